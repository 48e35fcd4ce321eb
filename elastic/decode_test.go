package elastic

import (
	"encoding/json"
	"reflect"
	"testing"
)

// decodeHits decodes with segmentio/encoding what encoding/json decodes the same way: an
// answer with every field a hit can carry (nested itineraries, stored prices by period start,
// profiles, escaped and non-ASCII text, nulls, numbers of both sort values).
func TestDecodeHits_AsEncodingJSON(t *testing.T) {
	floor, ceiling, minFloor := 50, 200, int64(4500)
	doc := vendorDoc{VendorID: "6f1c3c1e-94b5-4d7e-9d0c-3f7a0d8a1b2c", Indexed: true, Seq: 42, Kind: "restaurant",
		Name: "Caf\u00e9 \"O Tasco\" \\ \u65e5\u672c \U0001F600", City: "lisbon", CityName: "Lisboa", CountryCode: "PT",
		Location: &geoPoint{Lat: 38.7223, Lon: -9.1392}, Lat: 38.7223, Lon: -9.1392, Cuisines: []string{"portuguese", "seafood"},
		StarRating: 0, Rating: 4.7, Currency: "EUR", Active: true, ScheduleKey: "3676a4d8d3ac93c41475cc22ffc28ddb",
		Itineraries: []itineraryDoc{
			{ID: "1097488a-3d02-4792-92ac-a61e2bfabeca", Type: "standard-7", Name: "Mesa \u00e0 janela", Capacity: 8, Quantity: 1,
				BasePrice: 4318, Currency: "EUR", Facilities: []string{"free-dessert", "happy-hour"}, Active: true},
			{ID: "2097488a-3d02-4792-92ac-a61e2bfabeca", Type: "bar", Capacity: 2, Quantity: 12, BasePrice: 1,
				Currency: "EUR", Facilities: []string{}, Active: false},
		},
		MinFloorPrice: &minFloor, PriceSeq: 9, FloorPercent: &floor, CeilingPercent: &ceiling,
		Prices:   map[string]map[int64]int64{"1097488a-3d02-4792-92ac-a61e2bfabeca": {1796000000: 5000, -1: 0, 1796086400: 9007199254740993}},
		Profiles: map[string]map[string]int64{"1097488a-3d02-4792-92ac-a61e2bfabeca": {"1T20:00": 4700, "7T13:30": 3900}},
	}
	src, err := json.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	answer := []byte(`{"took":3,"timed_out":false,"hits":{"total":null,"max_score":null,"hits":[` +
		`{"_index":"x","_id":"a","_score":null,"_source":` + string(src) + `,"sort":[4.7,"6f1c3c1e-94b5-4d7e-9d0c-3f7a0d8a1b2c"]},` +
		`{"_index":"x","_id":"b","_score":null,"_source":{"vendor_id":"b","itineraries":[],"cuisines":null,"prices":null},"sort":[123456789012,"b"]}]}}`)
	got, err := decodeHits(answer)
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Hits struct {
			Hits []hit `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(answer, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want.Hits.Hits) {
		t.Fatalf("decoded\n%+v\nwant (encoding/json)\n%+v", got, want.Hits.Hits)
	}
	if len(got) != 2 || got[0].Source.Prices["1097488a-3d02-4792-92ac-a61e2bfabeca"][1796086400] != 9007199254740993 {
		t.Fatalf("decoded %+v", got)
	}
	if _, err := decodeHits([]byte(`{"hits":{"hits":[{"_source":{"rating":"x"}}]}}`)); err == nil {
		t.Fatal("an answer of the wrong shape decoded without an error")
	}
}
