package index

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Keys of an index database (see the package doc).
var (
	keyPrimaryKey = []byte("m/primaryKey")
	keyVersion    = []byte("m/version")
	keyCreatedAt  = []byte("m/createdAt")
	keyUpdatedAt  = []byte("m/updatedAt")
	keyCount      = []byte("m/count")
	keyLastWrite  = []byte("m/lastWrite")
)

// lastWrite is the value of keyLastWrite.
type lastWrite struct {
	Tag    string      `json:"tag"`
	Result WriteResult `json:"result"`
}

// setLastWrite records a tagged write's result in b, the batch that
// completes the write; an untagged write records nothing.
func setLastWrite(b *pebble.Batch, tag string, res WriteResult) error {
	if tag == "" {
		return nil
	}
	v, err := json.Marshal(lastWrite{Tag: tag, Result: res})
	if err != nil {
		return err
	}
	return b.Set(keyLastWrite, v, nil)
}

// state is what an index database records about itself.
type state struct {
	primaryKey string
	version    uint64
	count      uint64
	createdAt  time.Time
	updatedAt  time.Time
}

func readState(r pebble.Reader) (state, error) {
	var st state
	var err error
	get := func(key []byte, decode func([]byte) error) {
		if err != nil {
			return
		}
		v, closer, gerr := r.Get(key)
		if gerr != nil {
			if errors.Is(gerr, pebble.ErrNotFound) && string(key) == string(keyPrimaryKey) {
				return
			}
			err = fmt.Errorf("read %s: %w", key, gerr)
			return
		}
		defer closer.Close()
		if derr := decode(v); derr != nil {
			err = fmt.Errorf("%s holds %q: %v: %w", key, clip(string(v)), derr, ErrCorrupt)
		}
	}
	get(keyPrimaryKey, func(v []byte) error { st.primaryKey = string(v); return nil })
	get(keyVersion, decodeUint(&st.version))
	get(keyCount, decodeUint(&st.count))
	get(keyCreatedAt, decodeTime(&st.createdAt))
	get(keyUpdatedAt, decodeTime(&st.updatedAt))
	if err != nil && errors.Is(err, pebble.ErrNotFound) {
		err = fmt.Errorf("%v: %w", err, ErrCorrupt)
	}
	return st, err
}

func decodeUint(dst *uint64) func([]byte) error {
	return func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("%d bytes, not 8", len(v))
		}
		*dst = binary.BigEndian.Uint64(v)
		return nil
	}
}

func decodeTime(dst *time.Time) func([]byte) error {
	return func(v []byte) error {
		t, err := time.Parse(time.RFC3339Nano, string(v))
		*dst = t
		return err
	}
}

func encodeUint(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func encodeTime(t time.Time) []byte { return []byte(t.UTC().Format(time.RFC3339Nano)) }

// now is the clock for createdAt and updatedAt.
func now() time.Time { return time.Now().UTC() }

// setCountAndVersion records count and, if bump, version+1 and updatedAt in
// b; it returns the new version.
func setCountAndVersion(b *pebble.Batch, st state, count uint64, bump bool) (uint64, error) {
	if err := b.Set(keyCount, encodeUint(count), nil); err != nil {
		return 0, err
	}
	if !bump {
		return st.version, nil
	}
	v := st.version + 1
	if err := b.Set(keyVersion, encodeUint(v), nil); err != nil {
		return 0, err
	}
	t := now()
	if !t.After(st.updatedAt) { // a clock step back must not move updatedAt back
		t = st.updatedAt.Add(time.Nanosecond)
	}
	if err := b.Set(keyUpdatedAt, encodeTime(t), nil); err != nil {
		return 0, err
	}
	return v, nil
}
