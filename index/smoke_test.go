package index

import "testing"

func TestSmoke(t *testing.T) {
	s := openStore(t, "")
	mustCreate(t, s, "movies", "")
	res := add(t, s, "movies", genNDJSON(1, 100, 200))
	t.Logf("%+v", res)
	add(t, s, "movies", `[{"id":"abc"},{"id":3,"x":1}]`)
	out := export(t, s, "movies")
	t.Logf("%d bytes\n%s", len(out), out[:300])
	t.Logf("%+v", mustGet(t, s, "movies"))
}
