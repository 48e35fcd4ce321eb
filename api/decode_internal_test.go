package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

// Keys that encoding/json matches to a field in another case are named, at any depth; map keys,
// exact names and values of a type with a decoder of its own are not.
func TestCaseKeys(t *testing.T) {
	type inner struct {
		Name string `json:"name"`
	}
	type Embedded struct {
		Kind string `json:"kind"`
	}
	type body struct {
		Embedded
		City  inner            `json:"city"`
		Items []inner          `json:"items"`
		Tags  map[string]inner `json:"tags"`
		At    time.Time        `json:"at"`
		Raw   json.RawMessage  `json:"raw"`
		Plain int
	}
	for text, want := range map[string][]string{
		`{"kind":"h","city":{"name":"x"},"items":[{"name":"a"}],"tags":{"Any":{"name":"b"}},"Plain":1,"raw":{"X":1}}`: nil,
		`{"Kind":"h"}`:                          {"Kind"},
		`{"city":{"NAME":"x"}}`:                 {"city.NAME"},
		`{"items":[{"name":"a"},{"Name":"b"}]}`: {"items[1].Name"},
		`{"tags":{"a":{"nAme":"b"}}}`:           {"tags.a.nAme"},
		`{"plain":1,"CITY":{"Name":"x"}}`:       {"plain", "CITY", "CITY.Name"},
	} {
		var dst body
		if err := json.Unmarshal([]byte(text), &dst); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if _, _, got := checkJSONText([]byte(text), reflect.TypeOf(&dst)); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", text, got, want)
		}
	}
}
