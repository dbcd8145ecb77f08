package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testRouter(blue, green int) *router {
	cfg := &Config{
		Listen:       "127.0.0.1:0",
		Admin:        "127.0.0.1:0",
		StickyHeader: "X-User",
		ForceHeader:  "X-Cutover-Pool",
		Pools: map[string]Pool{
			"blue":  {Weight: blue, Endpoints: []string{"127.0.0.1:1"}},
			"green": {Weight: green, Endpoints: []string{"127.0.0.1:2"}},
		},
	}
	return newRouter(cfg, newMetricsRegistry())
}

func pickFor(r *router, user string) string {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-User", user)
	return r.pick(req).name
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

func TestForceHeaderWinsOverWeights(t *testing.T) {
	r := testRouter(100, 0)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Cutover-Pool", "green")
	if got := r.pick(req).name; got != "green" {
		t.Fatalf("forced green, got %s", got)
	}
}

func TestNoWeightMeansNoPool(t *testing.T) {
	r := testRouter(0, 0)
	if p := r.pick(httptest.NewRequest("GET", "/", nil)); p != nil {
		t.Fatalf("expected no pool, got %s", p.name)
	}
}

func TestWeightedRandomFollowsWeights(t *testing.T) {
	r := testRouter(80, 20)
	green := 0
	for i := 0; i < 20000; i++ {
		if r.pick(httptest.NewRequest("GET", "/", nil)).name == "green" {
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
