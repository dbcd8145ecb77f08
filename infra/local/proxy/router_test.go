package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

const testForceKey = "c2VjcmV0LWZvcmNlLWtleS1mb3ItdGVzdHM"

func testRouter(blue, green int) *router {
	cfg := &Config{
		Listen:       "127.0.0.1:0",
		Admin:        "127.0.0.1:0",
		StickyHeader: "X-User",
		ForceHeader:  "X-Cutover-Pool",
		ForceKey:     testForceKey,
		Pools: map[string]Pool{
			"blue":  {Weight: blue, Endpoints: []string{"127.0.0.1:1"}},
			"green": {Weight: green, Endpoints: []string{"127.0.0.1:2"}},
		},
	}
	return newRouter(cfg, newMetricsRegistry(), newEndpointTable())
}

// keys is a request as routing sees it.
type keys map[string]string

func (k keys) header(name string) string { return k[name] }
func (k keys) cookie(name string) string { return k["cookie:"+name] }

func pickFor(r *router, user string) string {
	p, _ := r.pick(keys{"X-User": user})
	return p.name
}

// picked is the pool routing chooses for a request, and whether the request forced it.
func picked(r *router, k keys) (string, bool) {
	p, forced := r.pick(k)
	if p == nil {
		return "", forced
	}
	return p.name, forced
}

// A sticky user on the growing pool stays there at every larger weight,
// whichever color is the canary.
func TestStickyKeysOnlyMoveTowardsTheGrowingPool(t *testing.T) {
	for _, canary := range []string{"blue", "green"} {
		onCanary := map[string]bool{}
		for _, w := range []int{1, 5, 10, 25, 50, 75, 99, 100} {
			weights := map[string]int{canary: w}
			if canary == "blue" {
				weights["green"] = 100 - w
			} else {
				weights["blue"] = 100 - w
			}
			r := testRouter(weights["blue"], weights["green"])
			count := 0
			for i := 0; i < 2000; i++ {
				user := fmt.Sprintf("user-%d", i)
				got := pickFor(r, user) == canary
				if onCanary[user] && !got {
					t.Fatalf("canary %s at %d%%: %s left the canary", canary, w, user)
				}
				onCanary[user] = got
				if got {
					count++
				}
			}
			share := float64(count) / 2000 * 100
			if share < float64(w)-5 || share > float64(w)+5 {
				t.Errorf("canary %s at %d%%: %.1f%% of users on it", canary, w, share)
			}
		}
	}
}

func TestForceHeaderWithTheKeyWinsOverWeights(t *testing.T) {
	r := testRouter(100, 0)
	if got, forced := picked(r, keys{"X-Cutover-Pool": "green:" + testForceKey}); got != "green" || !forced {
		t.Fatalf("forced green with the key: got %s (forced %v)", got, forced)
	}
}

// Without the key a force header is an ordinary request: the weights route it.
func TestForceHeaderWithoutTheKeyIsRoutedByWeight(t *testing.T) {
	r := testRouter(100, 0)
	for _, value := range []string{
		"green",
		"green:",
		"green:wrong",
		"green:" + testForceKey + "x",
		"green:" + testForceKey[:len(testForceKey)-1],
		"green:" + strings.ToUpper(testForceKey),
		":" + testForceKey,
		"purple:" + testForceKey,
		testForceKey,
	} {
		if got, forced := picked(r, keys{"X-Cutover-Pool": value}); got != "blue" || forced {
			t.Errorf("%q: got %s (forced %v), want blue by weight", value, got, forced)
		}
	}
}

// A force header with no key configured forces nothing, whatever it carries.
func TestNoKeyNoForcing(t *testing.T) {
	cfg := &Config{ForceHeader: "X-Cutover-Pool", Pools: map[string]Pool{
		"blue":  {Weight: 100, Endpoints: []string{"127.0.0.1:1"}},
		"green": {Weight: 0, Endpoints: []string{"127.0.0.1:2"}},
	}}
	r := newRouter(cfg, newMetricsRegistry(), newEndpointTable())
	for _, value := range []string{"green", "green:", "green:anything"} {
		if got, forced := picked(r, keys{"X-Cutover-Pool": value}); got != "blue" || forced {
			t.Errorf("%q: got %s (forced %v), want blue by weight", value, got, forced)
		}
	}
}

// The admin port's /config never shows the key.
func TestConfigShownWithoutTheKey(t *testing.T) {
	cfg := testRouter(100, 0).cfg
	shown := cfg.withoutKey()
	if shown.ForceKey != "" || shown.ForceHeader != "X-Cutover-Pool" {
		t.Fatalf("shown config: %+v", shown)
	}
	if cfg.ForceKey != testForceKey {
		t.Fatal("withoutKey changed the config in force")
	}
}

func TestNoWeightMeansNoPool(t *testing.T) {
	r := testRouter(0, 0)
	if p, _ := r.pick(keys{}); p != nil {
		t.Fatalf("expected no pool, got %s", p.name)
	}
}

func TestWeightedRandomFollowsWeights(t *testing.T) {
	r := testRouter(80, 20)
	green := 0
	for i := 0; i < 20000; i++ {
		if got, _ := picked(r, keys{}); got == "green" {
			green++
		}
	}
	if green < 3600 || green > 4400 {
		t.Fatalf("expected about 4000 of 20000 on green, got %d", green)
	}
}

func TestConfigRejectsWeightWithoutEndpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	raw := `{"listen":"127.0.0.1:1","admin":"127.0.0.1:2","pools":{"blue":{"weight":10,"endpoints":[]}}}`
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), "no endpoints") {
		t.Fatalf("expected a no-endpoints error, got %v", err)
	}
}

// An endpoint is an IP address and a port, nothing else: a name, an option or
// a second command written after it never reaches HAProxy's configuration or
// its runtime API, and no balancer waits on a name to resolve when it starts.
func TestConfigTakesAnEndpointAsAnIPAddressAndAPort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	load := func(endpoint string) error {
		raw, _ := json.Marshal(map[string]any{"listen": "127.0.0.1:1", "admin": "127.0.0.1:2", "pools": map[string]any{"blue": map[string]any{"weight": 10, "endpoints": []string{endpoint}}}})
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(path)
		return err
	}
	for _, ok := range []string{"127.0.0.1:8080", "[::1]:80", "10.0.0.7:65535"} {
		if err := load(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"no-such-host.invalid:80", "127.0.0.1:80 backup", "127.0.0.1:80\nhttp-request return status 200", "127.0.0.1:80;shutdown sessions", "[fe80::1%eth0]:80", "127.0.0.1:0", "127.0.0.1:080", "127.0.0.1:65536", "127.0.0.1", ""} {
		if err := load(bad); err == nil || !strings.Contains(err.Error(), "an IP address and a port") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// Header names are case-insensitive: routing keys are found whatever case the client sends.
func TestRoutingHeadersIgnoreCase(t *testing.T) {
	var req fasthttp.Request
	raw := "GET / HTTP/1.1\r\nHost: x\r\nx-cutover-pool: green\r\nx-user: alice\r\nCookie: uid=bob\r\n\r\n"
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	k := fastKeys{&req.Header}
	if got := k.header("X-Cutover-Pool"); got != "green" {
		t.Fatalf("force header: got %q", got)
	}
	if got := k.header("X-USER"); got != "alice" {
		t.Fatalf("sticky header: got %q", got)
	}
	if got := k.cookie("uid"); got != "bob" {
		t.Fatalf("sticky cookie: got %q", got)
	}
}
