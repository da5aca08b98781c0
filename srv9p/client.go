package srv9p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"

	"9fans.net/go/plan9"
	"9fans.net/go/plan9/client"
)

// A Client is one 9P connection attached as one user, for the client sides
// of GiG.fs (the store and table clients). Its calls block; a context that
// ends during a call closes the connection, which ends every call on it, so
// a dead or slow server never hangs the caller past its deadline. It is
// safe for concurrent use.
//
// Calls run one at a time. The 9fans client has no reader goroutine: a
// waiting call reads for all of them, and when concurrent calls hand that
// role over badly, or the connection closes while no call is reading, the
// others wait forever (seen here). One call at a time, that call is always
// the reader, so closing the connection always ends it. A Mux runs many
// calls at once on one connection (the store client uses it).
type Client struct {
	nc   net.Conn
	fp   string // the TLS server's certificate fingerprint, or ""
	conn *client.Conn
	fsys *client.Fsys

	call sync.Mutex // held during a call

	mu     sync.Mutex
	closed bool
}

// Dial connects to the 9P server at addr (a dial string, see ParseAddr) and
// attaches as uname with the credential aname. A tls!host!port server is
// verified with the system roots; DialTrust says otherwise.
func Dial(ctx context.Context, addr, uname, aname string) (*Client, error) {
	return DialTrust(ctx, addr, Trust{}, uname, aname)
}

// DialTrust is Dial, verifying a TLS server as trust says (it is unused
// for other networks).
func DialTrust(ctx context.Context, addr string, trust Trust, uname, aname string) (*Client, error) {
	nc, fp, err := dialConn(ctx, addr, trust)
	if err != nil {
		return nil, classify(err) // a bad address is invalid, an untrusted server a refusal, the rest transport
	}
	c := &Client{nc: nc, fp: fp}
	err = c.Do(ctx, func() error {
		conn, err := client.NewConn(nc)
		if err != nil {
			return err
		}
		c.mu.Lock() // Close, run by a cancellation, reads it
		c.conn = conn
		c.mu.Unlock()
		fsys, err := conn.Attach(nil, uname, aname)
		if err != nil {
			return err
		}
		c.fsys = fsys
		return nil
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("attach %s as %s: %w", addr, uname, err)
	}
	return c, nil
}

// Do runs fn as the Client's only call, closing the connection if ctx ends
// first. Its error has a kind (see classify): the server's, or
// gig.ErrTransport for a failed connection. Every call on a fid from Open, Close included, must run in Do.
// After a cancellation the Client is closed.
func (c *Client) Do(ctx context.Context, fn func() error) error {
	c.call.Lock()
	defer c.call.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err := fn()
	if !stop() {
		return ctx.Err()
	}
	return classify(err)
}

// Ctl opens the ctl file at path, writes the one-line command cmd, and
// returns the reply read on the same fid, without a trailing newline.
func (c *Client) Ctl(ctx context.Context, path, cmd string) (string, error) {
	var reply []byte
	err := c.Do(ctx, func() error {
		fid, err := c.fsys.Open(path, plan9.ORDWR)
		if err != nil {
			return err
		}
		defer fid.Close()
		if _, err := fid.Write([]byte(cmd)); err != nil {
			return err
		}
		reply, err = ReadAll(fid)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", path, firstWord(cmd), err)
	}
	return strings.TrimSuffix(string(reply), "\n"), nil
}

// ReadFile reads the whole file at path.
func (c *Client) ReadFile(ctx context.Context, path string) ([]byte, error) {
	var data []byte
	err := c.Do(ctx, func() error {
		fid, err := c.fsys.Open(path, plan9.OREAD)
		if err != nil {
			return err
		}
		defer fid.Close()
		data, err = readAllSized(fid)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// writeChunk is the largest write WriteFile sends, well under the message
// size of any server of ours.
const writeChunk = 32 << 10

// WriteFile opens the file at path for writing and writes data in writes of
// at most 32 KiB, each ending at a newline where the data allows it, so a
// server that takes whole JSON lines per write sees whole lines. The
// clunk's error is returned too: a store answers it when the data ended
// in a partial line, which it dropped.
func (c *Client) WriteFile(ctx context.Context, path string, data []byte) error {
	err := c.Do(ctx, func() error {
		fid, err := c.fsys.Open(path, plan9.OWRITE)
		if err != nil {
			return err
		}
		for len(data) > 0 {
			n := len(data)
			if n > writeChunk {
				n = writeChunk
				if i := bytes.LastIndexByte(data[:n], '\n'); i >= 0 {
					n = i + 1
				}
			}
			if _, err := fid.Write(data[:n]); err != nil {
				fid.Close()
				return err
			}
			data = data[n:]
		}
		return fid.Close()
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Fsys is the attached file system, for calls that need fids of their own
// (a stream reader, a push of many writes on one fid). Every call on it or
// on its fids, Close included, must run in Do.
func (c *Client) Fsys() *client.Fsys { return c.fsys }

// Close hangs up. It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.conn != nil {
		c.conn.Close()
	}
	return c.nc.Close()
}

// ReadAll reads a file from offset 0 to its end. It reads at explicit
// offsets: after a ctl write the fid's own offset is past the command.
// Reads ask for as much as the message size allows: the buffer doubles
// while reads fill it.
func ReadAll(fid *client.Fid) ([]byte, error) {
	out := make([]byte, 0, 8192)
	for {
		if len(out) == cap(out) {
			out = slices.Grow(out, min(cap(out), 1<<20))
		}
		n, err := fid.ReadAt(out[len(out):cap(out)], int64(len(out)))
		out = out[:len(out)+n]
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// readAllSized is ReadAll into a buffer of the file's length, as its stat
// tells it, when that is small enough to trust.
func readAllSized(fid *client.Fid) ([]byte, error) {
	d, err := fid.Stat()
	if err != nil || d.Length == 0 || d.Length > 256<<20 {
		return ReadAll(fid)
	}
	out := make([]byte, 0, d.Length+1) // +1: the read that finds the end
	for {
		if len(out) == cap(out) {
			out = slices.Grow(out, min(cap(out), 1<<20))
		}
		n, err := fid.ReadAt(out[len(out):cap(out)], int64(len(out)))
		out = out[:len(out)+n]
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func firstWord(s string) string {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i]
	}
	return s
}
