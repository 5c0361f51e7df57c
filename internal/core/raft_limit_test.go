package core

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

// A flood of unauthenticated join challenges is bounded (ATTACK F6): one
// address gets its burst, then its rate; many addresses together get
// the global burst; the table of addresses stays
// bounded and a refusal costs microseconds.
func TestJoinLimiterBoundsAFlood(t *testing.T) {
	var l joinLimiter
	now := time.Unix(1_700_000_000, 0)
	admitted := func(n int, remote func(i int) string, at time.Time) int {
		ok := 0
		for i := 0; i < n; i++ {
			err := l.allowChallenge(remote(i), at)
			if err == nil {
				ok++
			} else if !errors.Is(err, logical.ErrRateLimited) {
				t.Fatalf("refusal %v is not a 429", err)
			}
		}
		return ok
	}
	one := func(int) string { return "198.51.100.7:4444" }
	if got := admitted(10_000, one, now); got != joinBurst {
		t.Fatalf("one address got %d challenges at once, want its burst %d", got, joinBurst)
	}
	if got, want := admitted(10, one, now.Add(time.Second)), int(joinPerClient); got != want {
		t.Fatalf("one address got %d challenges a second later, want %d", got, want)
	}
	many := func(i int) string { return fmt.Sprintf("[2001:db8::%x]:1", i) }
	start := time.Now()
	got := admitted(20_000, many, now.Add(2*time.Second))
	perCall := time.Since(start) / 20_000
	if got > challengesBurst {
		t.Fatalf("20000 addresses got %d challenges at once, want at most the global burst %d", got, challengesBurst)
	}
	if n := len(l.clients); n > maxJoinClients {
		t.Fatalf("%d addresses remembered, want at most %d", n, maxJoinClients)
	}
	if perCall > 200*time.Microsecond {
		t.Fatalf("a refusal took %s on average", perCall)
	}
	// A minute on, the idle addresses are forgotten and a new one is served.
	if err := l.allowChallenge("203.0.113.9:1", now.Add(2*time.Minute)); err != nil {
		t.Fatalf("a new address after the flood: %v", err)
	}
	// Answers count against the caller's own budget only.
	if err := l.allowAnswer("10.0.0.4:1", now.Add(2*time.Minute)); err != nil {
		t.Fatalf("an answer from a quiet address: %v", err)
	}
}

// Through the endpoint: 500 challenges from one address cost the leader
// at most the burst of encryptions, the rest are 429s.
func TestRaftChallengeEndpointRateLimited(t *testing.T) {
	leader, _, _ := joinLeader(t)
	ok, limited := 0, 0
	for i := 0; i < 500; i++ {
		_, err := doFrom(leader, "198.51.100.8:5", "sys/storage/raft/bootstrap/challenge", map[string]any{"server_id": "x", "cluster_addr": "10.9.9.9:8201"})
		switch {
		case err == nil:
			ok++
		case errors.Is(err, logical.ErrRateLimited):
			limited++
		default:
			t.Fatal(err)
		}
	}
	if ok > joinBurst+2 || limited < 500-joinBurst-2 {
		t.Fatalf("%d challenges served, %d refused; want at most about the burst (%d) served", ok, limited, joinBurst)
	}
}
