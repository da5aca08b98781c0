package table

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// A Client is one connection to a table, attached as one user: the
// client side for users and their tools. It is safe for concurrent use.
type Client struct {
	c    *srv9p.Client
	user string
}

// Dial connects to the table at addr (a dial string) as user, with the
// credential aname (PROTOCOL.md: "master <password>" or "session <token>").
func Dial(ctx context.Context, addr, user, aname string) (*Client, error) {
	return DialTrust(ctx, addr, srv9p.Trust{}, user, aname)
}

// DialTrust is Dial, verifying a TLS table (tls!host!port) as trust says.
func DialTrust(ctx context.Context, addr string, trust srv9p.Trust, user, aname string) (*Client, error) {
	c, err := srv9p.DialTrust(ctx, addr, trust, user, aname)
	if err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	return &Client{c: c, user: user}, nil
}

// DialMaster connects to the table at addr as user, with its master.
func DialMaster(ctx context.Context, addr, user, master string) (*Client, error) {
	return Dial(ctx, addr, user, "master "+master)
}

// DialSession connects to the table at addr as user, with a session token.
func DialSession(ctx context.Context, addr, user, token string) (*Client, error) {
	return Dial(ctx, addr, user, "session "+token)
}

// Close hangs up.
func (c *Client) Close() error { return c.c.Close() }

func (c *Client) ctl(ctx context.Context, cmd string) (string, error) {
	reply, err := c.c.Ctl(ctx, "/user/"+c.user+"/ctl", cmd)
	if err != nil {
		return "", fmt.Errorf("table: %w", err)
	}
	return reply, nil
}

// SessionNew makes a session that expires when unused for timeout and
// returns its token (needs the master).
func (c *Client) SessionNew(ctx context.Context, timeout time.Duration, description string) (string, error) {
	return c.ctl(ctx, "session new "+timeout.String()+" "+description)
}

// SessionList lists the live sessions (needs the master).
func (c *Client) SessionList(ctx context.Context) ([]SessionInfo, error) {
	reply, err := c.ctl(ctx, "session list")
	if err != nil {
		return nil, err
	}
	var list []SessionInfo
	for line := range strings.SplitSeq(reply, "\n") {
		if line == "" {
			continue
		}
		var si SessionInfo
		if err := json.Unmarshal([]byte(line), &si); err != nil {
			return nil, fmt.Errorf("table: session list: %w", err)
		}
		list = append(list, si)
	}
	return list, nil
}

// SessionRevoke revokes the session id (needs the master). The
// warnings name the stores the table could not tell yet (the session is
// revoked all the same).
func (c *Client) SessionRevoke(ctx context.Context, id string) (warnings []string, err error) {
	reply, err := c.ctl(ctx, "session revoke "+id)
	if err != nil {
		return nil, err
	}
	for line := range strings.SplitSeq(reply, "\n") {
		if w, ok := strings.CutPrefix(line, "warning: "); ok {
			warnings = append(warnings, w)
		}
	}
	return warnings, nil
}

// StoreAdd adds the store at storeAddr to channel, confirming with the
// store's one-time code, and returns the store id.
func (c *Client) StoreAdd(ctx context.Context, channel, storeAddr, code string) (string, error) {
	return c.ctl(ctx, "store add "+channel+" "+storeAddr+" "+code)
}

// StoreAddPinned is StoreAdd for a store on TLS that must show the
// certificate with fingerprint fp.
func (c *Client) StoreAddPinned(ctx context.Context, channel, storeAddr, code, fp string) (string, error) {
	if fp == "" {
		return c.StoreAdd(ctx, channel, storeAddr, code)
	}
	return c.ctl(ctx, "store add "+channel+" "+storeAddr+" "+code+" "+fp)
}

// StoreRemove removes the store storeID from channel.
func (c *Client) StoreRemove(ctx context.Context, channel, storeID string) error {
	_, err := c.ctl(ctx, "store remove "+channel+" "+storeID)
	return err
}

// ChannelRemove removes channel from the mount table.
func (c *Client) ChannelRemove(ctx context.Context, channel string) error {
	_, err := c.ctl(ctx, "channel remove "+channel)
	return err
}

// StoreToken returns the store token of this session for the store
// storeID (needs a session).
func (c *Client) StoreToken(ctx context.Context, storeID string) (string, error) {
	return c.ctl(ctx, "store token "+storeID)
}

// Table reads the whole mount table.
func (c *Client) Table(ctx context.Context) (MountTable, error) {
	b, err := c.c.ReadFile(ctx, "/user/"+c.user+"/table")
	if err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	var mt MountTable
	if err := json.Unmarshal(b, &mt); err != nil {
		return nil, fmt.Errorf("table: mount table: %w", err)
	}
	return mt, nil
}

// Channel reads the stores of one channel.
func (c *Client) Channel(ctx context.Context, channel string) ([]StoreRef, error) {
	if _, err := gig.ParseChannel(channel); err != nil {
		return nil, err
	}
	b, err := c.c.ReadFile(ctx, "/user/"+c.user+"/channel/"+channel)
	if err != nil {
		return nil, fmt.Errorf("table: %w", err)
	}
	var refs []StoreRef
	if err := json.Unmarshal(b, &refs); err != nil {
		return nil, fmt.Errorf("table: channel %s: %w", channel, err)
	}
	return refs, nil
}

// A Checker checks store tokens with tables, for stores: it keeps one
// connection per (table, user, store, secret) and reuses it. The zero
// value is ready to use; it is safe for concurrent use. A store declares
//
//	type TokenChecker interface {
//		Check(ctx context.Context, tableAddr, tableFingerprint, storeID, secret, user, token string) (until time.Time, err error)
//	}
//
// and is handed a *Checker.
type Checker struct {
	mu    sync.Mutex
	conns map[checkerKey]*srv9p.Client
}

type checkerKey struct{ addr, fingerprint, user, storeID, secret string }

// NewChecker returns a Checker.
func NewChecker() *Checker { return &Checker{} }

// Check asks the table at tableAddr (pinning its TLS certificate's
// fingerprint tableFingerprint if not empty), attached as user with the
// store's credential `store <storeID> <secret>`, whether token is live for
// this store, and returns until when its session lasts if unused. A refusal
// is an error of kind gig.ErrPermission (its message says why: PROTOCOL.md);
// any other error means the table could not say.
func (k *Checker) Check(ctx context.Context, tableAddr, tableFingerprint, storeID, secret, user, token string) (time.Time, error) {
	if token == "" || strings.ContainsAny(token, "/\x00 ") || token == "." || token == ".." {
		return time.Time{}, fmt.Errorf("check token: %w", ErrUnknownToken)
	}
	key := checkerKey{tableAddr, tableFingerprint, user, storeID, secret}
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		c, fresh, err := k.conn(ctx, key)
		if err != nil {
			// Refused or not, the table did not judge the token: a
			// refusal here is of the store's own credential.
			return time.Time{}, fmt.Errorf("check token: %w", gig.Errorf(gig.ErrUnavailable, "%v", err))
		}
		b, err := c.ReadFile(ctx, "/user/"+user+"/check/"+token)
		if err == nil {
			return parseCheck(b, storeID)
		}
		if errors.Is(err, gig.ErrPermission) {
			return time.Time{}, fmt.Errorf("check token: %w", err)
		}
		k.drop(key, c)
		lastErr = err
		if fresh || ctx.Err() != nil {
			break // a new connection failed: the table is not answering
		}
	}
	return time.Time{}, fmt.Errorf("check token: %w", lastErr)
}

// conn returns the connection for key, dialling one if needed; fresh
// tells whether it was just made.
func (k *Checker) conn(ctx context.Context, key checkerKey) (c *srv9p.Client, fresh bool, err error) {
	k.mu.Lock()
	c = k.conns[key]
	k.mu.Unlock()
	if c != nil {
		return c, false, nil
	}
	c, err = srv9p.DialTrust(ctx, key.addr, srv9p.Trust{Fingerprint: key.fingerprint}, key.user, "store "+key.storeID+" "+key.secret)
	if err != nil {
		return nil, true, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.conns == nil {
		k.conns = map[checkerKey]*srv9p.Client{}
	}
	if old := k.conns[key]; old != nil {
		c.Close()
		return old, false, nil
	}
	k.conns[key] = c
	return c, true, nil
}

// drop forgets and closes a connection that failed.
func (k *Checker) drop(key checkerKey, c *srv9p.Client) {
	k.mu.Lock()
	if k.conns[key] == c {
		delete(k.conns, key)
	}
	k.mu.Unlock()
	c.Close()
}

// Close hangs up every connection.
func (k *Checker) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, c := range k.conns {
		c.Close()
		delete(k.conns, key)
	}
	return nil
}

func parseCheck(b []byte, storeID string) (time.Time, error) {
	var a struct {
		Store string `json:"store"`
		Until int64  `json:"until"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return time.Time{}, fmt.Errorf("check token: bad answer: %w", err)
	}
	if a.Store != storeID {
		return time.Time{}, fmt.Errorf("check token: %w", ErrWrongStore)
	}
	return time.UnixMilli(a.Until), nil
}
