package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	valueFile := filepath.Join(dir, "value.txt")
	objFile := filepath.Join(dir, "obj.json")
	os.WriteFile(valueFile, []byte("line1\nline2\n"), 0o600)
	os.WriteFile(objFile, []byte(`{"a":"from-file","n":5}`), 0o600)
	tests := map[string]struct {
		args    []string
		stdin   string
		want    map[string]any
		wantErr error
	}{
		"key=value":          {args: []string{"a=b", "c=d=e"}, want: map[string]any{"a": "b", "c": "d=e"}},
		"empty value":        {args: []string{"a="}, want: map[string]any{"a": ""}},
		"repeated key":       {args: []string{"p=x", "p=y", "p=z"}, want: map[string]any{"p": []any{"x", "y", "z"}}},
		"value from file":    {args: []string{"cert=@" + valueFile}, want: map[string]any{"cert": "line1\nline2\n"}},
		"object from file":   {args: []string{"@" + objFile, "b=c"}, want: map[string]any{"a": "from-file", "n": json.Number("5"), "b": "c"}},
		"stdin object":       {args: []string{"-"}, stdin: `{"k":"v","nested":{"x":true}}`, want: map[string]any{"k": "v", "nested": map[string]any{"x": true}}},
		"value from stdin":   {args: []string{"k=-"}, stdin: "secret", want: map[string]any{"k": "secret"}},
		"no args":            {args: nil, want: map[string]any{}},
		"not key=value":      {args: []string{"hunter2"}, wantErr: errNotKeyValue},
		"empty key":          {args: []string{"=v"}, wantErr: errNotKeyValue},
		"stdin not object":   {args: []string{"-"}, stdin: `["a"]`, wantErr: errNotJSONObject},
		"stdin not JSON":     {args: []string{"-"}, stdin: `a=b`, wantErr: errNotJSONObject},
		"stdin twice":        {args: []string{"a=-", "b=-"}, stdin: "x", wantErr: errStdinTwice},
		"missing value file": {args: []string{"a=@" + filepath.Join(dir, "nope")}, wantErr: os.ErrNotExist},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := &env{stdin: strings.NewReader(tc.stdin)}
			got, err := e.parseData(tc.args)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseVersions(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in      string
		want    []int
		wantErr bool
	}{
		"one":         {in: "3", want: []int{3}},
		"sorted uniq": {in: "3, 1,3,2", want: []int{1, 2, 3}},
		"zero":        {in: "0", wantErr: true},
		"negative":    {in: "-1", wantErr: true},
		"word":        {in: "1,latest", wantErr: true},
		"empty":       {in: "", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := parseVersions(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParsePairs(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in      []string
		want    map[string]string
		wantErr bool
	}{
		"none":         {in: nil, want: nil},
		"pairs":        {in: []string{"a=1", "b=x=y", "a=2"}, want: map[string]string{"a": "2", "b": "x=y"}},
		"commas stay":  {in: []string{"team=a,b"}, want: map[string]string{"team": "a,b"}},
		"missing eq":   {in: []string{"a"}, wantErr: true},
		"missing name": {in: []string{"=a"}, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := parsePairs("metadata", tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseDurationSeconds(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in      string
		want    int
		wantErr bool
	}{
		"seconds":     {in: "90", want: 90},
		"go duration": {in: "1h30m", want: 5400},
		"negative":    {in: "-5s", wantErr: true},
		"garbage":     {in: "soon", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := parseDurationSeconds(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %d, %v; want %d, wantErr %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// FuzzParseData checks that no argument list makes the parser panic, that
// parsed keys are never empty, and that errors never quote the input.
func FuzzParseData(f *testing.F) {
	for _, seed := range []string{"a=b", "a=b\x00a=c", "-", "k=-", "=x", "hunter2", "a==", "@", "a=@", "\x00\x00"} {
		f.Add(seed, `{"x":1}`)
	}
	f.Fuzz(func(t *testing.T, joined, stdin string) {
		args := strings.Split(joined, "\x00")
		for _, a := range args {
			if strings.HasPrefix(a, "@") || strings.Contains(a, "=@") {
				return // reading arbitrary files is not what this fuzzes
			}
		}
		e := &env{stdin: strings.NewReader(stdin)}
		got, err := e.parseData(args)
		if err != nil {
			for _, a := range args {
				if len(a) > 3 && strings.Contains(err.Error(), a) {
					t.Fatalf("error %q quotes argument %q", err, a)
				}
			}
			return
		}
		for k := range got {
			if k == "" && !(len(args) == 1 && args[0] == "-") {
				t.Fatalf("empty key from %q", args)
			}
		}
	})
}

// FuzzParseVersions checks the parser never panics and only returns
// sorted, positive, distinct versions.
func FuzzParseVersions(f *testing.F) {
	for _, seed := range []string{"1", "1,2,3", "3,1", "0", "-1", "a", "", ",", "1,,2", "99999999999999999999"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseVersions(in)
		if err != nil {
			return
		}
		for i, v := range got {
			if v <= 0 || (i > 0 && got[i-1] >= v) {
				t.Fatalf("parseVersions(%q) = %v", in, got)
			}
		}
	})
}

// FuzzDecodeObject checks JSON input from stdin is either an object or
// an error.
func FuzzDecodeObject(f *testing.F) {
	for _, seed := range []string{`{}`, `{"a":1}`, `[]`, `null`, `"s"`, `{"a":`, `{"a":1} {"b":2}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		obj, err := decodeObject(in)
		if err == nil && obj == nil {
			t.Fatalf("decodeObject(%q) = nil, nil", in)
		}
	})
}

// TestNonJSONInputIsNotEchoed: a file or stdin that is not JSON may be a
// bare secret; the error must not quote any of it.
func TestNonJSONInputIsNotEchoed(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"hunter2", `{"a": hunter2}`, "[1,2]"} {
		_, err := decodeObject([]byte(in))
		if err == nil {
			t.Fatalf("%q accepted", in)
		}
		if strings.Contains(err.Error(), "'h'") || strings.Contains(err.Error(), "hunter") {
			t.Fatalf("%q: error quotes the input: %v", in, err)
		}
	}
}
