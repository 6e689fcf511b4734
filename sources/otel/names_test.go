package otelsource

import "testing"

func TestNames(t *testing.T) {
	for in, want := range map[string]string{
		"http_requests_total":          "http_requests_total",
		"http.server.request.duration": "http_server_request_duration",
		"my-app/requests":              "my_app_requests",
		"ns:sub.value":                 "ns:sub_value",
		"2xx.count":                    "_2xx_count",
		"größe":                        "gr__e", // one underscore per character
	} {
		if got := metricName(in); got != want {
			t.Errorf("metricName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"http.route": "http_route",
		"route":      "route",
		"1st":        "key_1st",
		"__name__":   "key__name__",
		"_private":   "_private",
		"a:b":        "a_b",
		"":           "",
	} {
		if got := labelName(in); got != want {
			t.Errorf("labelName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidNamesDoNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = metricName("http_requests_total"); _ = labelName("route") }); n != 0 {
		t.Errorf("sanitizing valid names allocates %v times", n)
	}
}
