package main

import (
	"bytes"
	"testing"
	"time"
)

// The demo answers with a fake Clerk, letting in whoever holds the tokens
// it prints. Started in a deployment's environment ("demo" given as the
// argument where Clerk keys are set), it would stand in for the real
// service on that deployment's LISTEN_ADDR: it refuses to.
func TestDemoRefusesToRunWhereClerkKeysAreSet(t *testing.T) {
	for _, name := range []string{"CLERK_PUBLISHABLE_KEY", "CLERK_SECRET_KEY", "CLERK_JWT_KEY", "CLERK_MACHINE_SECRET_KEY"} {
		t.Run(name, func(t *testing.T) {
			setEnv(t, map[string]string{name: "set", "LISTEN_ADDR": "127.0.0.1:0"})
			var out bytes.Buffer
			code := make(chan int, 1)
			go func() { code <- runDemo(&out) }()
			select {
			case c := <-code:
				if c == 0 || out.Len() != 0 {
					t.Fatalf("exit %d, printed %q: want a refusal before any token", c, out.String())
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the demo started with " + name + " set")
			}
		})
	}
}
