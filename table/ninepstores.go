package table

import (
	"context"
	"fmt"

	"gigfs.io/gigfs/srv9p"
)

// NinePStores reaches stores over 9P with srv9p.Dial, as PROTOCOL.md
// says. It is the default Stores of a Service, so that gig-table works on
// its own; cmd/gig-table may plug in another implementation (such as the
// store client of package netstore).
type NinePStores struct{}

// Confirm attaches to the store as user with `confirm <code>` and writes
// `confirm <tableAddr> <storeID> <secret>` to /user/<user>/ctl; the store
// must answer ok.
func (NinePStores) Confirm(ctx context.Context, storeAddr, user, code, tableAddr, storeID, secret string) error {
	c, err := srv9p.Dial(ctx, storeAddr, user, "confirm "+code)
	if err != nil {
		return err
	}
	defer c.Close()
	reply, err := c.Ctl(ctx, "/user/"+user+"/ctl", "confirm "+tableAddr+" "+storeID+" "+secret)
	if err != nil {
		return err
	}
	if reply != "ok" {
		return fmt.Errorf("store answered %q to confirm, want ok", clip(reply))
	}
	return nil
}

// Revoke attaches to the store as user with `table <secret>` and writes
// `revoke <token>` to /user/<user>/ctl for each token.
func (NinePStores) Revoke(ctx context.Context, storeAddr, user, secret string, tokens []string) error {
	c, err := srv9p.Dial(ctx, storeAddr, user, "table "+secret)
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
