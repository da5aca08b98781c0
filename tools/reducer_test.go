package tools

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The test binary is also a reducer program, chosen by GIGFS_TEST_REDUCER.
func TestMain(m *testing.M) {
	switch os.Getenv("GIGFS_TEST_REDUCER") {
	case "":
		// The tools lease origins in the state folder: a test's own, not
		// the user's.
		state, err := os.MkdirTemp("", "gigfs-state")
		if err != nil {
			panic(err)
		}
		os.Setenv("XDG_STATE_HOME", state)
		code := m.Run()
		os.RemoveAll(state)
		os.Exit(code)
	case "echo": // answers its input as a JSON array of the lines
		var lines []json.RawMessage
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines = append(lines, json.RawMessage(append([]byte(nil), sc.Bytes()...)))
		}
		b, _ := json.Marshal(lines)
		fmt.Println(string(b))
	case "fail":
		fmt.Fprintln(os.Stderr, "bad input\nsecond line")
		os.Exit(7)
	case "nothing":
	case "garbage":
		fmt.Println("{not json")
	case "two":
		fmt.Println("1 2")
	}
	os.Exit(0)
}

func TestProgramReducer(t *testing.T) {
	run := func(mode string) (string, error) {
		t.Setenv("GIGFS_TEST_REDUCER", mode)
		r := ProgramReducer(os.Args[0])
		v, err := r(json.RawMessage(`{"a":1}`), []json.RawMessage{json.RawMessage(`2`), json.RawMessage(`"x"`)})
		return string(v), err
	}
	v, err := run("echo")
	if want := `[{"value":{"a":1}},{"payload":2},{"payload":"x"}]`; err != nil || v != want {
		t.Errorf("echo: %s, %v; want %s", v, err, want)
	}
	for mode, want := range map[string]string{
		"fail":    "exit status 7: bad input",
		"nothing": "answered nothing",
		"garbage": "answer is not JSON",
		"two":     "more than one JSON value",
	} {
		if _, err := run(mode); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", mode, err, want)
		}
	}
}

func TestReducerFor(t *testing.T) {
	if _, err := reducerFor("merge"); err != nil {
		t.Errorf("built-in: %v", err)
	}
	if _, err := reducerFor("/no/such/program"); err == nil || !strings.Contains(err.Error(), "neither a built-in") {
		t.Errorf("missing program: %v", err)
	}
}
