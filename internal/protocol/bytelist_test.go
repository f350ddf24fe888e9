package protocol

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestByteListMatchesEncodingJSON holds ByteList to what encoding/json
// makes of [][]byte: the same values, and the same errors.
func TestByteListMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`[]`, ` [ ] `, `null`, `["AQID"]`, `[ "AQID" , "" ,"BAU=" ]`, "[\n\t\"AQID\",\r\n\"BAUG\"\n]",
		`["AQ\u0049D"]`, `["AQ\/D"]`, `["AQI"]`, `["!!!!"]`, `["AQID",]`, `["AQID" "BAUG"]`,
		`[1]`, `[null]`, `["AQID",null]`, `[["AQID"]]`, `{"a":"AQID"}`, `"AQID"`, `["AQID"`, `["AQID\"]`,
		`["4pyTIOC4hA=="]`, `["AQID", "=AQID"]`, `["YWJj\nZGVm"]`,
	} {
		var want [][]byte
		wantErr := json.Unmarshal([]byte(in), &want)
		var got ByteList
		gotErr := json.Unmarshal([]byte(in), &got)
		if (wantErr == nil) != (gotErr == nil) || (wantErr != nil && wantErr.Error() != gotErr.Error()) {
			t.Errorf("%s: error %v, encoding/json says %v", in, gotErr, wantErr)
			continue
		}
		if wantErr == nil && !reflect.DeepEqual([][]byte(got), want) {
			t.Errorf("%s: %q, encoding/json says %q", in, got, want)
		}
	}
}

// TestByteListElementsDoNotOverlap checks that growing one decoded element
// cannot write into the next, although they share one buffer.
func TestByteListElementsDoNotOverlap(t *testing.T) {
	var l ByteList
	if err := json.Unmarshal([]byte(`["AQID","BAUG"]`), &l); err != nil {
		t.Fatal(err)
	}
	_ = append(l[0], 9, 9, 9)
	if !reflect.DeepEqual([][]byte(l), [][]byte{{1, 2, 3}, {4, 5, 6}}) {
		t.Fatalf("got %v", l)
	}
}
