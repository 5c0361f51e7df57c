package framework

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConvertDurationsAndLowerString(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		typ     FieldType
		in      any
		want    any
		wantErr string
	}{
		"signed: negative seconds":       {typ: TypeSignedDurationSecond, in: json.Number("-1"), want: -time.Second},
		"signed: negative string":        {typ: TypeSignedDurationSecond, in: "-30s", want: -30 * time.Second},
		"signed: positive":               {typ: TypeSignedDurationSecond, in: "150", want: 150 * time.Second},
		"signed: days":                   {typ: TypeSignedDurationSecond, in: "-2d", want: -48 * time.Hour},
		"signed: junk":                   {typ: TypeSignedDurationSecond, in: "soon", wantErr: "expected a duration"},
		"signed: too long":               {typ: TypeSignedDurationSecond, in: "9223372036854775807", wantErr: "too long"},
		"unsigned: negative refused":     {typ: TypeDurationSecond, in: "-1", wantErr: "must not be negative"},
		"unsigned: overflow refused":     {typ: TypeDurationSecond, in: "106751992d", wantErr: "too long"},
		"unsigned: overflow as a number": {typ: TypeDurationSecond, in: json.Number("9300000000"), wantErr: "too long"},
		"unsigned: fine":                 {typ: TypeDurationSecond, in: "1h", want: time.Hour},
		"lower string":                   {typ: TypeLowerString, in: "  MyRole ", want: "myrole"},
		"lower string from a number":     {typ: TypeLowerString, in: json.Number("12"), want: "12"},
		"lower string refuses an object": {typ: TypeLowerString, in: map[string]any{}, wantErr: "expected a string"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := convert(tc.typ, tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if zero(TypeSignedDurationSecond) != time.Duration(0) || zero(TypeLowerString) != "" {
		t.Fatal("zero values")
	}
}
