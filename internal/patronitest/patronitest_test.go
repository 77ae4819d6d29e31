package patronitest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// TestCluster: the cluster has a leader and a synchronous standby, a row committed through the
// multi-host DSN is on the leader and is replicated to every member.
func TestCluster(t *testing.T) {
	c := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.MultiDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS hello (k text PRIMARY KEY); INSERT INTO hello VALUES ('x') ON CONFLICT DO NOTHING"); err != nil {
		t.Fatal(err)
	}
	l, err := c.Leader()
	if err != nil {
		t.Fatal(err)
	}
	var port int
	if err := conn.QueryRow(ctx, "SELECT inet_server_port()").Scan(&port); err != nil || port != l.Port {
		t.Fatalf("the multi-host DSN reached port %d (%v), the leader is %s on %d", port, err, l.Name, l.Port)
	}
	if _, err := c.SyncStandby(); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members {
		ok := false
		for i := 0; i < 50 && !ok; i++ {
			mc, err := pgx.Connect(ctx, c.DSN(m, "postgres"))
			if err == nil {
				var n int
				ok = mc.QueryRow(ctx, "SELECT count(*) FROM hello").Scan(&n) == nil && n == 1
				mc.Close(ctx)
			}
			if !ok {
				time.Sleep(100 * time.Millisecond)
			}
		}
		if !ok {
			t.Errorf("member %s does not have the row", m.Name)
		}
	}
}
