package table

import (
	"context"
	"fmt"

	"gigfs.io/gigfs/gig"
	"gigfs.io/gigfs/srv9p"
)

// NinePStores reaches stores over 9P with srv9p.Dial, as PROTOCOL.md
// says. It is the default Stores of a Service, so that gig-table works on
// its own; cmd/gig-table may plug in another implementation (such as the
// store client of package netstore).
type NinePStores struct{}

// Confirm attaches to the store as the user with `confirm <code>` and
// writes `confirm <table_addr> <store_id> <secret> [<table_fingerprint>]`
// to /user/<user>/ctl; the store must answer ok. Over TLS it accepts the
// store's certificate as it is (the code vouches for the store, trust on
// first use) unless the user pinned one (cf.StoreFingerprint), and
// returns its fingerprint.
func (NinePStores) Confirm(ctx context.Context, cf Confirmation) (string, error) {
	trust := srv9p.Trust{Learn: true}
	if cf.StoreFingerprint != "" {
		trust = srv9p.Trust{Fingerprint: cf.StoreFingerprint}
	}
	c, err := srv9p.DialTrust(ctx, cf.StoreAddr, trust, cf.User, "confirm "+cf.Code)
	if err != nil {
		return "", err
	}
	defer c.Close()
	cmd := "confirm " + cf.TableAddr + " " + cf.StoreID + " " + cf.Secret
	if cf.TableFingerprint != "" {
		cmd += " " + cf.TableFingerprint
	}
	reply, err := c.Ctl(ctx, "/user/"+cf.User+"/ctl", cmd)
	if err != nil {
		return "", err
	}
	if reply != "ok" {
		return "", fmt.Errorf("store answered %q to confirm, want ok", gig.Clip(reply))
	}
	return c.Fingerprint(), nil
}

// Revoke attaches to the store as user with `table <secret>`, pinning
// the store's certificate fingerprint if it has one, and writes
// `revoke <token>` to /user/<user>/ctl for each token.
func (NinePStores) Revoke(ctx context.Context, storeAddr, fingerprint, user, secret string, tokens []string) error {
	c, err := srv9p.DialTrust(ctx, storeAddr, srv9p.Trust{Fingerprint: fingerprint}, user, "table "+secret)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, t := range tokens {
		if _, err := c.Ctl(ctx, "/user/"+user+"/ctl", "revoke "+t); err != nil {
			return err
		}
	}
	return nil
}
