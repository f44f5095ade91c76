package mount

import (
	"os"
	"strings"
	"testing"
)

// TestRootMountsWithoutFusermount: root mounts and unmounts with mount(2)
// and umount2(2) directly, so a machine without the fuse3 package works
// (issue 7: "exec: /bin/fusermount: no such file or directory"). The test
// hides fusermount3 in a private mount namespace (a bind mount of /dev/null
// over it) and runs the daemon there: it must mount, serve, and unmount at
// SIGTERM, exiting 0.
func TestRootMountsWithoutFusermount(t *testing.T) {
	requireFUSE(t)
	if os.Geteuid() != 0 {
		t.Skip("only root mounts without fusermount3")
	}
	requireTool(t, "unshare")
	requireTool(t, "mountpoint")
	e := newEnv(t, map[string]int{"movies": 5})
	script := `
set -e
for f in /usr/bin/fusermount3 /bin/fusermount3 /usr/bin/fusermount /bin/fusermount /usr/local/bin/fusermount3; do
	[ -e "$f" ] && mount --bind /dev/null "$f"
done
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
	if [ -f "$d/fusermount3" ] || [ -f "$d/fusermount" ]; then echo "$d still has fusermount" >&2; exit 20; fi
done
"$BIN" mount "$DATA" "$MNT" --log-level debug &
pid=$!
until mountpoint -q "$MNT"; do
	kill -0 $pid 2>/dev/null || { wait $pid; echo "daemon exited $? before mounting" >&2; exit 21; }
	sleep 0.05
done
grep -q movies "$MNT/status"
mkdir "$MNT/indexes/direct"
kill -TERM $pid
rc=0; wait $pid || rc=$?
if mountpoint -q "$MNT"; then echo "still mounted after the daemon exited" >&2; umount -l "$MNT"; exit 22; fi
exit $rc
`
	cmd := []string{"--mount", "--propagation", "private", "env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"BIN=" + bin, "DATA=" + e.data, "MNT=" + e.mnt, "bash", "-c", script}
	r := run(t, nil, "unshare", cmd...)
	if r.code != 0 {
		if strings.Contains(r.stderr, "unshare failed") {
			skip(t, "no private mount namespace here: %v", r)
		}
		t.Fatalf("mount as root without fusermount3: %v", r)
	}
	if out := e.cli("index", "list"); !strings.Contains(out, "direct") {
		t.Errorf("the index made through that mount is missing:\n%s", out)
	}
}
