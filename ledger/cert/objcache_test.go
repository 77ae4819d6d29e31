package cert

import "testing"

// TestObjCacheGroups: the writer applies a group while the one before it commits. A value
// written by a group reaches the committed cache (what queries read) only when that group is
// reported committed, never with the group before it; the writer reads the newest pending value;
// an abort forgets every group not reported; a group whose records were all refused (never
// reported) is dropped with the next one reported.
func TestObjCacheGroups(t *testing.T) {
	c := newObjCache()
	g1, g2, g3, g4 := new(int), new(int), new(int), new(int)
	write := func(g any, k string, v any) {
		c.begin(g)
		c.groups[len(c.groups)-1].vals[k] = v
	}
	committed := func(k string) any { v, _ := c.get(k); return v }

	write(g1, "xe1", "one")
	write(g2, "xe1", "two") // applied while g1 commits
	write(g2, "xe2", "two")
	if v, _ := c.pending("xe1"); v != "two" {
		t.Fatalf("the writer reads %v, want the newest pending value two", v)
	}
	c.promote(g1)
	if v := committed("xe1"); v != "one" {
		t.Fatalf("after g1 committed, queries read %v, want one", v)
	}
	if v := committed("xe2"); v != nil {
		t.Fatalf("g2's value %v reached queries before g2 committed", v)
	}
	c.promote(g2)
	if committed("xe1") != "two" || committed("xe2") != "two" {
		t.Fatalf("after g2 committed: %v, %v", committed("xe1"), committed("xe2"))
	}

	c.begin(g3) // all refused: never reported
	write(g4, "xe3", "four")
	c.promote(g4)
	if len(c.groups) != 0 || committed("xe3") != "four" {
		t.Fatalf("after g4: %d groups pending, xe3 %v", len(c.groups), committed("xe3"))
	}

	write(g1, "xe4", "lost")
	write(g2, "xe5", "lost")
	c.abort()
	c.promote(g1) // a commit reported after the abort promotes nothing
	if _, ok := c.pending("xe4"); ok || committed("xe4") != nil || committed("xe5") != nil {
		t.Fatal("an aborted group's values stayed")
	}
}
