package tools

import (
	"fmt"
	"os"
	"strings"
)

// progress draws a progress bar on stderr when stderr is a terminal, and
// nothing otherwise.
type progress struct {
	e     *env
	on    bool
	total int
	shown int // width drawn last, -1 before the first
}

const barWidth = 40

// newProgress returns a bar over total steps, drawn only if want and
// stderr is a terminal.
func newProgress(e *env, want bool, total int) *progress {
	on := false
	if f, ok := e.stderr.(*os.File); ok && want && total > 0 {
		on = isTTY(f.Fd())
	}
	return &progress{e: e, on: on, total: total, shown: -1}
}

// set draws the bar at n of total steps.
func (p *progress) set(n int) {
	if !p.on {
		return
	}
	w := n * barWidth / p.total
	if w == p.shown && n != p.total {
		return
	}
	p.shown = w
	p.e.errMu.Lock()
	fmt.Fprintf(p.e.stderr, "\r[%s%s] %d/%d", strings.Repeat("=", w), strings.Repeat(" ", barWidth-w), n, p.total)
	p.e.errMu.Unlock()
}

// done clears the bar.
func (p *progress) done() {
	if !p.on || p.shown < 0 {
		return
	}
	p.on = false
	p.e.errMu.Lock()
	fmt.Fprintf(p.e.stderr, "\r%s\r", strings.Repeat(" ", barWidth+24))
	p.e.errMu.Unlock()
}
