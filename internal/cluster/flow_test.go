package cluster

import (
	"io"
	"strings"
	"testing"
	"time"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
)

// ctl runs one ctl command with the 9fans client, which is not our code.
func ctl(t *testing.T, addr, uname, aname, file, cmd string) (string, error) {
	t.Helper()
	conn, err := client.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fsys, err := conn.Attach(nil, uname, aname)
	if err != nil {
		return "", err
	}
	fid, err := fsys.Open(file, plan9.ORDWR)
	if err != nil {
		return "", err
	}
	defer fid.Close()
	if _, err := fid.Write([]byte(cmd)); err != nil {
		return "", err
	}
	b := make([]byte, 8192)
	n, err := fid.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimSpace(string(b[:n])), nil
}

func attach(addr, uname, aname string) error {
	conn, err := client.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Attach(nil, uname, aname)
	return err
}

// The whole flow with a real table and a real store, through a 9P client
// that is not ours: the admin sets a master, a session, the store's admin
// adds the user and reads a code, the store is added with it, a store token
// works on the store, revoking the session makes the store refuse it. With
// restart, the table restarts between every step, and nothing changes.
func TestFlow_TableAndStore(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "steady"
		if restart {
			name = "table-restarted-between-steps"
		}
		t.Run(name, func(t *testing.T) {
			c, err := Start(t.TempDir(), 1, t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := c.Stores[0]
			step := func() {
				if restart {
					if err := c.RestartTable(); err != nil {
						t.Fatal(err)
					}
				}
			}
			must := func(reply string, err error) string {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				return reply
			}
			must(ctl(t, c.TableAddr, "admin", "admin "+TableKey, "/admin/ctl", "user set bo s3cret master"))
			step()
			session := must(ctl(t, c.TableAddr, "bo", "master s3cret master", "/user/bo/ctl", "session new 1h laptop"))
			step()
			code := strings.TrimPrefix(must(ctl(t, s.Addr, "admin", "admin "+StoreKey, "/admin/ctl", "user add bo")), "code ")
			if _, err := ctl(t, c.TableAddr, "bo", "session "+session, "/user/bo/ctl", "store add notes "+s.Addr+" wrong-code"); err == nil {
				t.Fatal("store added with a wrong code")
			}
			step()
			storeID := must(ctl(t, c.TableAddr, "bo", "session "+session, "/user/bo/ctl", "store add notes "+s.Addr+" "+code))
			step()
			token := must(ctl(t, c.TableAddr, "bo", "session "+session, "/user/bo/ctl", "store token "+storeID))
			step()
			if err := attach(s.Addr, "bo", "token "+token); err != nil {
				t.Fatalf("store refuses a live token: %v", err)
			}
			if err := attach(s.Addr, "eve", "token "+token); err == nil {
				t.Fatal("another user's tree opened with bo's token")
			}
			step()
			sid, _, _ := strings.Cut(session, ".")
			must(ctl(t, c.TableAddr, "bo", "master s3cret master", "/user/bo/ctl", "session revoke "+sid))
			step()
			deadline := time.Now().Add(time.Minute)
			for attach(s.Addr, "bo", "token "+token) == nil {
				if time.Now().After(deadline) {
					t.Fatal("the store still accepts the token of a revoked session")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := attach(c.TableAddr, "bo", "session "+session); err == nil {
				t.Fatal("the table accepts a revoked session")
			}
		})
	}
}
