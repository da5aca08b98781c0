package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"gigfs.io/gigfs"
	"gigfs.io/gigfs/oplog"
)

// ReducerTimeout bounds one run of an external reducer program.
const ReducerTimeout = 10 * time.Second

// maxReducerOutput bounds what a reducer program may answer.
const maxReducerOutput = oplog.MaxOpSize

// registerReducers gives the client the reducers of the settings: a
// built-in by name, or else an external program.
func registerReducers(cl *gigfs.Client, specs map[string]string) error {
	for typ, spec := range specs {
		r, err := reducerFor(spec)
		if err != nil {
			return fmt.Errorf("reducer for type %s: %v", typ, err)
		}
		cl.Register(typ, r)
	}
	return nil
}

// reducerFor returns the built-in reducer named spec, or else a reducer
// that runs spec as a program (split on spaces: program and arguments).
func reducerFor(spec string) (oplog.Reducer, error) {
	if r, ok := oplog.Builtin(spec); ok {
		return r, nil
	}
	argv := strings.Fields(spec)
	if len(argv) == 0 {
		return nil, errors.New("empty reducer")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("%q is neither a built-in reducer (lww, counter, merge, set, list) nor a program: %v", argv[0], err)
	}
	return ProgramReducer(path, argv[1:]...), nil
}

// ProgramReducer wraps an external program as a reducer: it writes the
// oplog to the program's stdin as JSON lines, the checkpoint first,
//
//	{"value":<checkpoint value>}
//	{"payload":<payload>}
//
// and reads the value, one JSON value, from its stdout. A program that
// exits non-zero (its stderr's first line is in the error), runs longer
// than ReducerTimeout, answers nothing or answers invalid JSON is an error;
// the client names the type and the path.
func ProgramReducer(program string, args ...string) oplog.Reducer {
	return func(value json.RawMessage, payloads []json.RawMessage) (json.RawMessage, error) {
		var in bytes.Buffer
		if len(value) == 0 {
			value = json.RawMessage("null")
		}
		in.WriteString(`{"value":`)
		in.Write(value)
		in.WriteString("}\n")
		for _, p := range payloads {
			in.WriteString(`{"payload":`)
			in.Write(p)
			in.WriteString("}\n")
		}
		ctx, cancel := context.WithTimeout(context.Background(), ReducerTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, program, args...)
		cmd.Stdin = &in
		var out, errOut limitedBuffer
		out.max, errOut.max = maxReducerOutput, 4096
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		name := program
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("reducer program %s: ran longer than %v", name, ReducerTimeout)
		case err != nil:
			if first, _, _ := strings.Cut(strings.TrimSpace(errOut.String()), "\n"); first != "" {
				return nil, fmt.Errorf("reducer program %s: %v: %s", name, err, first)
			}
			return nil, fmt.Errorf("reducer program %s: %v", name, err)
		case out.over:
			return nil, fmt.Errorf("reducer program %s: answer longer than %d bytes", name, out.max)
		}
		v := bytes.TrimSpace(out.Bytes())
		if len(v) == 0 {
			return nil, fmt.Errorf("reducer program %s: answered nothing", name)
		}
		dec := json.NewDecoder(bytes.NewReader(v))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("reducer program %s: answer is not JSON: %v", name, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, fmt.Errorf("reducer program %s: answer holds more than one JSON value", name)
		}
		return raw, nil
	}
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
