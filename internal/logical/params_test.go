package logical

import (
	"context"
	"reflect"
	"testing"
)

type plainBackend struct{}

func (plainBackend) HandleRequest(context.Context, *Request) (*Response, error) { return nil, nil }

type parsingBackend struct{ found bool }

func (parsingBackend) HandleRequest(context.Context, *Request) (*Response, error) { return nil, nil }

func (p parsingBackend) ParseParams(*Request) ([]Param, bool, error) {
	if !p.found {
		return nil, false, nil
	}
	return []Param{{Names: []string{"parsed"}}}, true, nil
}

func TestRequestParams(t *testing.T) {
	t.Parallel()
	req := &Request{Data: map[string]any{"k": []any{"a", []any{"b", 1}, []string{"c"}}}}
	raw := []Param{{Names: []string{"k"}, Values: []any{"a", "b", 1, "c"}}}
	cases := map[string]struct {
		b    Backend
		want []Param
	}{
		"no parser":        {plainBackend{}, raw},
		"parser, routed":   {parsingBackend{found: true}, []Param{{Names: []string{"parsed"}}}},
		"parser, no route": {parsingBackend{}, raw},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := RequestParams(tc.b, req)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %#v, %v", got, err)
			}
		})
	}
	if RawParams(nil) != nil {
		t.Fatal("no data, no parameters")
	}
}
