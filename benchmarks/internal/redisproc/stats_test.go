package redisproc

import (
	"slices"
	"testing"
	"time"
)

func TestParseCommandStats(t *testing.T) {
	before, err := ParseCommandStats("# Commandstats\r\ncmdstat_get:calls=10,usec=40,usec_per_call=4.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=3,usec=90,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n")
	if err != nil {
		t.Fatal(err)
	}
	after, err := ParseCommandStats("# Commandstats\r\ncmdstat_get:calls=30,usec=100,usec_per_call=3.33,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_evalsha:calls=5,usec=150,usec_per_call=30.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|caching:calls=2,usec=2,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=9,usec=300,usec_per_call=33.33,rejected_calls=0,failed_calls=0\r\n")
	if err != nil {
		t.Fatal(err)
	}
	d := after.Sub(before)
	if d["get"] != (CmdStat{20, 60}) || d["evalsha"] != (CmdStat{5, 150}) || d["client|caching"] != (CmdStat{2, 2}) {
		t.Errorf("Sub = %v", d)
	}
	if _, ok := d["info"]; ok {
		t.Error("Sub kept INFO, which the harness sends itself")
	}
	if d.Calls() != 27 || d.PerCall("evalsha") != 30*time.Microsecond || d.PerCall("set") != -1 {
		t.Errorf("Calls %d, PerCall(evalsha) %v, PerCall(set) %v", d.Calls(), d.PerCall("evalsha"), d.PerCall("set"))
	}
	if got := d.Names(); !slices.Equal(got, []string{"get", "evalsha", "client|caching"}) {
		t.Errorf("Names = %v", got)
	}
	if _, err := ParseCommandStats("cmdstat_get:calls=x,usec=1"); err == nil {
		t.Error("a bad count parsed")
	}
}
