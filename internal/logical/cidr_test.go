package logical

import "testing"

func TestAddrInCIDRs(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		cidrs  []string
		remote string
		want   bool
	}{
		"no list":        {nil, "192.0.2.1:5", true},
		"inside":         {[]string{"10.0.0.0/8"}, "10.1.2.3:4000", true},
		"outside":        {[]string{"10.0.0.0/8"}, "192.168.1.1:4000", false},
		"bare address":   {[]string{"10.0.0.0/8"}, "10.9.9.9", true},
		"mapped v4":      {[]string{"10.0.0.0/8"}, "[::ffff:10.0.0.1]:80", true},
		"v6":             {[]string{"2001:db8::/32"}, "[2001:db8::1]:443", true},
		"unparseable":    {[]string{"10.0.0.0/8"}, "pipe", false},
		"second of many": {[]string{"10.0.0.0/8", "127.0.0.1/32"}, "127.0.0.1:1", true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := AddrInCIDRs(tc.cidrs, tc.remote); got != tc.want {
				t.Fatalf("got %v", got)
			}
		})
	}
}
