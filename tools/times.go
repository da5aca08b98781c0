package tools

import (
	"strconv"
	"time"
)

// parseTime parses a time of the command line: RFC 3339
// ("2026-12-02T13:00:00Z", fractions allowed) or unix milliseconds. It
// returns unix milliseconds.
func parseTime(flagName, s string) (int64, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, usageErr("-%s %q: want RFC 3339 (2026-12-02T13:00:00Z) or unix milliseconds", flagName, s)
	}
	return t.UnixMilli(), nil
}

// timeText is the readable form of a date in unix milliseconds: RFC 3339
// in UTC, to the millisecond.
func timeText(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// dateRange is the -since and -until flags of a command, in unix ms.
type dateRange struct {
	since, until string
}

func (r *dateRange) bounds() (lo, hi int64, err error) {
	lo, hi = 0, 1<<62
	if r.since != "" {
		if lo, err = parseTime("since", r.since); err != nil {
			return 0, 0, err
		}
	}
	if r.until != "" {
		if hi, err = parseTime("until", r.until); err != nil {
			return 0, 0, err
		}
	}
	if lo > hi {
		return 0, 0, usageErr("-since %s is after -until %s", r.since, r.until)
	}
	return lo, hi, nil
}
