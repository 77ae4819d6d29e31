package patronitest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/santong-cn/santong/internal/pgtest"
)

// TestPointInTimeRestore: the procedure of docs/scaling.md, "Backups and point-in-time
// recovery", on the cluster. A base backup (pg_basebackup from the leader), then rows written,
// a named restore point, then a mistake (the rows deleted); the WAL archive that every primary
// fills is replayed onto the base backup up to the restore point in a new server, which must
// hold the rows written after the backup and not the mistake.
func TestPointInTimeRestore(t *testing.T) {
	c := Shared(t)
	if err := c.WaitHealthy(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.MultiDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS pitr; CREATE TABLE pitr (id int PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	leader, err := c.Leader()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(c.Dir, fmt.Sprintf("restore-%d", time.Now().UnixNano()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := pgtest.Chown(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	t0 := time.Now()
	if out, err := c.command(dir, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(leader.Port), "-U", c.User,
		"-D", data, "-X", "stream", "-c", "fast").CombinedOutput(); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	t.Logf("base backup of %s in %.1f s", leader.Name, time.Since(t0).Seconds())

	// after the backup: 1,000 rows, the restore point, then the mistake
	if _, err := conn.Exec(ctx, "INSERT INTO pitr SELECT generate_series(1, 1000)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_create_restore_point('before_mistake')"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM pitr WHERE id > 10"); err != nil {
		t.Fatal(err)
	}
	var seg string
	if err := conn.QueryRow(ctx, "SELECT pg_walfile_name(pg_switch_wal())").Scan(&seg); err != nil {
		t.Fatal(err)
	}
	// wait until the segment holding the mistake is in the archive
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(c.Archive, seg)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived within 30 s", seg)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// the restore: the base backup, a configuration of its own (the settings that recovery checks
	// at least the primary's), recovery.signal, the archive
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
hba_file = '%s/pg_hba.conf'
ident_file = '%s/pg_ident.conf'
shared_buffers = 32MB
max_connections = 200
max_wal_senders = 10
max_replication_slots = 10
archive_mode = off
restore_command = 'cp %s/%%f %%p'
recovery_target_name = 'before_mistake'
recovery_target_action = 'promote'
`, port, dir, data, data, c.Archive)
	files := map[string]string{
		"postgresql.conf":      conf,
		"postgresql.base.conf": "",
		"postgresql.auto.conf": "",
		"pg_hba.conf":          "local all all trust\nhost all all 127.0.0.1/32 trust\n",
		"pg_ident.conf":        "",
		"recovery.signal":      "",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(data, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Remove(filepath.Join(data, "standby.signal"))
	if err := pgtest.Chown(dir); err != nil {
		t.Fatal(err)
	}
	cmd, err := c.spawn(dir, "postgres.log", filepath.Join(c.bin, "postgres"), "-D", data)
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		waitNone(dir, 5*time.Second)
	})
	dsn := fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", c.User, port)
	deadline = time.Now().Add(60 * time.Second)
	var n int
	for {
		n = -1
		if rc, err := pgx.Connect(ctx, dsn); err == nil {
			var recovery bool
			if rc.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovery) == nil && !recovery {
				_ = rc.QueryRow(ctx, "SELECT count(*) FROM pitr").Scan(&n)
			}
			rc.Close(context.Background())
		}
		if n >= 0 {
			break
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			t.Fatalf("the restored server exited:\n%s", lastLines(string(b), 20))
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			t.Fatalf("the restored server did not finish recovery within 60 s:\n%s", lastLines(string(b), 20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("restored to the restore point in %.1f s (from the start of the backup): %d rows", time.Since(t0).Seconds(), n)
	if n != 1000 {
		t.Errorf("the restored server has %d rows, want the 1000 written before the restore point", n)
	}
}
