package policy

import "testing"

func TestHasAccessUnder(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		hcl    string
		prefix string
		want   bool
	}{
		"exact under mount":     {`path "secret/data/app" { capabilities = ["read"] }`, "secret/", true},
		"glob under mount":      {`path "secret/data/*" { capabilities = ["read"] }`, "secret/", true},
		"glob covering mount":   {`path "sec*" { capabilities = ["list"] }`, "secret/", true},
		"other mount":           {`path "team/data/*" { capabilities = ["read"] }`, "secret/", false},
		"deny only":             {`path "secret/*" { capabilities = ["deny"] }`, "secret/", false},
		"plus segment":          {`path "secret/+/app" { capabilities = ["read"] }`, "secret/", true},
		"plus other mount":      {`path "team/+/app" { capabilities = ["read"] }`, "secret/", false},
		"plus first segment":    {`path "+/data/app" { capabilities = ["read"] }`, "secret/", true},
		"similar name no slash": {`path "secretive/x" { capabilities = ["read"] }`, "secret/", false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse("p", tc.hcl)
			if err != nil {
				t.Fatal(err)
			}
			if got := NewACL(p).HasAccessUnder(tc.prefix); got != tc.want {
				t.Fatalf("HasAccessUnder(%q) = %v, want %v", tc.prefix, got, tc.want)
			}
		})
	}
	if !NewACL(Root()).HasAccessUnder("anything/") {
		t.Fatal("root must see every mount")
	}
}
