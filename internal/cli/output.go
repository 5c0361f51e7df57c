package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/openbao/openbao/api/v2"
	"golang.org/x/term"
	"gopkg.in/yaml.v3"
)

// printer writes responses the way Vault's CLI does: a Key/Value table by
// default, the whole response as JSON or YAML on request, or one field raw.
type printer struct {
	w      io.Writer
	format string // "table", "json" or "yaml"
	field  string // when set, print only this field
}

func newPrinter(w io.Writer, format, field string) (*printer, error) {
	format = strings.ToLower(strings.TrimSpace(format))
	switch format {
	case "", "table":
		format = "table"
	case "json", "yaml":
	default:
		return nil, usageErrorf("Invalid output format %q: use table, json or yaml", format)
	}
	return &printer{w: w, format: format, field: field}, nil
}

// row is one line of a Key/Value table.
type row struct {
	key   string
	value any
}

// structured prints v as indented JSON or as YAML, per the chosen format;
// callers only use it for json and yaml.
func (p *printer) structured(v any) error {
	if p.format == "yaml" {
		g, err := generic(v)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(g); err != nil {
			return err
		}
		_, err = p.w.Write(buf.Bytes())
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = p.w.Write(append(b, '\n'))
	return err
}

// generic turns v into maps, slices and scalars through JSON, with numbers
// as int64 where they are integers, so YAML shows the same keys and values
// the JSON output does.
func generic(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return plainNumbers(out), nil
}

func plainNumbers(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = plainNumbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = plainNumbers(e)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
	}
	return v
}

// secret prints a logical response: the field, the whole envelope, or a
// table of lease, auth and data rows.
func (p *printer) secret(sec *api.Secret) error {
	if p.field != "" {
		v, ok := secretField(sec, p.field)
		return p.raw(v, ok)
	}
	if p.format != "table" {
		return p.structured(sec)
	}
	p.warnings(sec)
	return p.table(secretRows(sec))
}

// data prints a plain map: one field, the map as JSON/YAML, or a table.
func (p *printer) data(m map[string]any) error {
	if p.field != "" {
		v, ok := m[p.field]
		return p.raw(v, ok)
	}
	if p.format != "table" {
		return p.structured(m)
	}
	return p.table(mapRows(m))
}

// raw prints one value with no decoration: strings as they are, other
// scalars in their usual form, maps and lists as JSON. The trailing newline
// is only added on a terminal, so `$(coffer … -field=x)` and files get the
// exact value.
func (p *printer) raw(v any, ok bool) error {
	if !ok {
		return &exitError{code: exitUsage, msg: fmt.Sprintf("Field %q not present in the response", p.field)}
	}
	var s string
	switch t := v.(type) {
	case nil:
	case string:
		s = t
	case json.Number, bool, int, int64, float64:
		s = fmt.Sprint(t)
	default:
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		s = string(b)
	}
	if f, isFile := p.w.(*os.File); isFile && term.IsTerminal(int(f.Fd())) {
		s += "\n"
	}
	_, err := io.WriteString(p.w, s)
	return err
}

// warnings prints the server's warnings above a table, as Vault does.
func (p *printer) warnings(sec *api.Secret) {
	if sec == nil || len(sec.Warnings) == 0 {
		return
	}
	fmt.Fprintln(p.w, "WARNING! The following warnings were returned from the server:")
	for _, w := range sec.Warnings {
		fmt.Fprintf(p.w, "\n  * %s\n", w)
	}
	fmt.Fprintln(p.w)
}

// table prints a Key/Value table with "---" rules under the headings.
func (p *printer) table(rows []row) error {
	cells := make([][]string, len(rows))
	for i, r := range rows {
		cells[i] = []string{r.key, cell(r.value)}
	}
	return p.columns([]string{"Key", "Value"}, cells)
}

// columns prints rows under headings, each heading underlined with dashes,
// columns separated by at least four spaces.
func (p *printer) columns(headings []string, rows [][]string) error {
	tw := tabwriter.NewWriter(p.w, 0, 0, 4, ' ', 0)
	rules := make([]string, len(headings))
	for i, h := range headings {
		rules[i] = strings.Repeat("-", len(h))
	}
	fmt.Fprintln(tw, strings.Join(headings, "\t"))
	fmt.Fprintln(tw, strings.Join(rules, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// heading prints a section title such as "=== Data ===".
func (p *printer) heading(title string) {
	fmt.Fprintf(p.w, "=== %s ===\n", title)
}

// lines prints each string on its own line; for lists of names.
func (p *printer) lines(items []string) error {
	for _, it := range items {
		if _, err := fmt.Fprintln(p.w, it); err != nil {
			return err
		}
	}
	return nil
}

// cell renders a value for a table: nil as <nil>, an empty string as n/a,
// everything else in Go's default form (lists as [a b], maps as map[k:v]).
func cell(v any) string {
	switch t := v.(type) {
	case nil:
		return "<nil>"
	case string:
		if t == "" {
			return "n/a"
		}
		return t
	}
	return fmt.Sprint(v)
}

// mapRows returns the map's entries sorted by key.
func mapRows(m map[string]any) []row {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rows := make([]row, 0, len(keys))
	for _, k := range keys {
		rows = append(rows, row{k, m[k]})
	}
	return rows
}

// secretRows lays out a response as Vault's table does: lease first, then
// the token of an auth response (omitted when blanked by the caller), then
// the data sorted by key.
func secretRows(sec *api.Secret) []row {
	if sec == nil {
		return nil
	}
	var rows []row
	if w := sec.WrapInfo; w != nil {
		// Vault's CLI writes these keys with a colon.
		rows = append(rows, row{"wrapping_token:", w.Token}, row{"wrapping_accessor:", w.Accessor},
			row{"wrapping_token_ttl:", humanDuration(w.TTL)},
			row{"wrapping_token_creation_time:", w.CreationTime.String()},
			row{"wrapping_token_creation_path:", w.CreationPath})
		if w.WrappedAccessor != "" {
			rows = append(rows, row{"wrapped_accessor:", w.WrappedAccessor})
		}
	}
	if sec.LeaseDuration > 0 {
		if sec.LeaseID != "" {
			rows = append(rows, row{"lease_id", sec.LeaseID},
				row{"lease_duration", humanDuration(sec.LeaseDuration)},
				row{"lease_renewable", sec.Renewable})
		} else {
			rows = append(rows, row{"refresh_interval", humanDuration(sec.LeaseDuration)})
		}
	}
	if a := sec.Auth; a != nil {
		if a.ClientToken != "" {
			rows = append(rows, row{"token", a.ClientToken})
		}
		rows = append(rows, row{"token_accessor", a.Accessor},
			row{"token_duration", humanDuration(a.LeaseDuration)},
			row{"token_renewable", a.Renewable},
			row{"token_policies", a.TokenPolicies},
			row{"identity_policies", a.IdentityPolicies},
			row{"policies", a.Policies})
		keys := make([]string, 0, len(a.Metadata))
		for k := range a.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			rows = append(rows, row{"token_meta_" + k, a.Metadata[k]})
		}
	}
	data := mapRows(sec.Data)
	for i, r := range data {
		if durationLike(r.key) {
			data[i].value = dataDuration(r.value)
		}
	}
	return append(rows, data...)
}

// durationLike reports whether a data field holds seconds that Vault's
// table shows as a duration ("ttl", "*_ttl", "period", "*_period").
func durationLike(k string) bool {
	return k == "ttl" || k == "period" || strings.HasSuffix(k, "_ttl") || strings.HasSuffix(k, "_period")
}

// dataDuration renders a number of seconds as Vault's table does ("0s",
// "1h", "767h59m50s"); anything else is left as it is.
func dataDuration(v any) any {
	var secs int64
	switch t := v.(type) {
	case json.Number:
		n, err := t.Int64()
		if err != nil {
			return v
		}
		secs = n
	case int:
		secs = int64(t)
	case int64:
		secs = t
	default:
		return v
	}
	if secs == 0 {
		return "0s"
	}
	return humanDuration(int(secs))
}

// secretField finds a field the way Vault's -field does: the lease and token
// pseudo-fields first, then the data.
func secretField(sec *api.Secret, name string) (any, bool) {
	if sec == nil {
		return nil, false
	}
	if a := sec.Auth; a != nil {
		switch name {
		case "token":
			return a.ClientToken, a.ClientToken != ""
		case "token_accessor":
			return a.Accessor, true
		case "token_duration":
			return humanDuration(a.LeaseDuration), true
		case "token_renewable":
			return a.Renewable, true
		case "token_policies":
			return a.TokenPolicies, true
		case "identity_policies":
			return a.IdentityPolicies, true
		case "policies":
			return a.Policies, true
		}
	}
	if w := sec.WrapInfo; w != nil {
		switch name {
		case "wrapping_token":
			return w.Token, true
		case "wrapping_accessor":
			return w.Accessor, true
		case "wrapping_token_ttl":
			return humanDuration(w.TTL), true
		case "wrapping_token_creation_time":
			return w.CreationTime.String(), true
		case "wrapping_token_creation_path":
			return w.CreationPath, true
		case "wrapped_accessor":
			return w.WrappedAccessor, true
		}
	}
	switch name {
	case "lease_id":
		return sec.LeaseID, true
	case "lease_duration", "refresh_interval":
		return humanDuration(sec.LeaseDuration), true
	case "lease_renewable":
		return sec.Renewable, true
	}
	v, ok := sec.Data[name]
	return v, ok
}

// humanDuration renders seconds as Go does, minus the zero tails Vault drops
// ("768h", "1h30m", "45s"); zero means no expiry and prints as ∞.
func humanDuration(secs int) string {
	if secs == 0 {
		return "∞"
	}
	s := (time.Duration(secs) * time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// seconds renders a number of seconds for tables where zero means "use the
// system default", as secrets list -detailed does.
func seconds(n int) string {
	if n == 0 {
		return "system"
	}
	return humanDuration(n)
}
