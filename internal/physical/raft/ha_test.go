package raft

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// campaignAll starts a campaign on every running node and returns, per
// node, the channel that receives its lost channel once it wins.
func (c *cluster) campaignAll(ctx context.Context) []chan (<-chan struct{}) {
	wins := make([]chan (<-chan struct{}), len(c.nodes))
	for i, b := range c.nodes {
		wins[i] = make(chan (<-chan struct{}), 1)
		go func() {
			lost, err := b.Campaign(ctx, fmt.Sprintf("value-%d", i))
			if err == nil {
				wins[i] <- lost
			}
		}()
	}
	return wins
}

func TestCampaignElectsTheRaftLeaderAndMovesOnResign(t *testing.T) {
	c := newCluster(t, 3, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wins := c.campaignAll(ctx)
	lead := c.leader()
	var lost <-chan struct{}
	select {
	case lost = <-wins[lead]:
	case <-time.After(waitFor):
		t.Fatal("the raft leader's campaign did not win")
	}
	want := fmt.Sprintf("value-%d", lead)
	for i, b := range c.nodes {
		eventually(t, fmt.Sprintf("node%d sees the leader's value", i), func() bool {
			v, held, err := b.LeaderValue(ctx)
			return err == nil && held && v == want
		})
		if i != lead && len(wins[i]) > 0 {
			t.Fatalf("node%d won a campaign while node%d leads", i, lead)
		}
	}
	if _, err := c.nodes[lead].Campaign(ctx, "again"); err == nil {
		t.Fatal("a second campaign on the holder succeeded")
	}

	// Resign hands leadership over: the old holder's lost channel closes
	// and another node's campaign wins with its own value.
	if err := c.nodes[lead].Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(waitFor):
		t.Fatal("lost was not closed after Resign")
	}
	next := -1
	deadline := time.After(waitFor)
	for next < 0 {
		for i := range wins {
			if i != lead && len(wins[i]) > 0 {
				next = i
			}
		}
		select {
		case <-deadline:
			t.Fatal("no other node won after the resignation")
		case <-time.After(10 * time.Millisecond):
		}
	}
	v, held, err := c.nodes[next].LeaderValue(ctx)
	if err != nil || !held || v != fmt.Sprintf("value-%d", next) {
		t.Fatalf("after the move LeaderValue = %q, %v, %v; want value-%d", v, held, err, next)
	}
}

func TestCampaignLostWhenLeaderCloses(t *testing.T) {
	c := newCluster(t, 3, 0)
	ctx := context.Background()
	lead := c.leader()
	lost, err := c.nodes[lead].Campaign(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	_ = c.nodes[lead].Close()
	c.down[lead] = true
	select {
	case <-lost:
	case <-time.After(waitFor):
		t.Fatal("lost was not closed when the backend closed")
	}
}
