// loadgen is the load behind e2e/cluster/deploy-upstream.sh: it keeps the unmodified upstream programs
// busy the way a small production cluster would, and is itself never audited (its pod is labelled
// part-of=upstream-load and has no pprof port). Every loop is paced and the whole run stops after -for
// (the process then idles until it is terminated); all targets are addresses given on the command line,
// which deploy-upstream.sh sets to the node's own 127.0.0.x address.
//
//   - etcd: puts, gets and prefix ranges through the v3 JSON gateway (/v3/kv/...);
//   - CoreDNS: A/SRV/TXT lookups, hits and misses, with a net.Resolver dialling the pod's address;
//   - Prometheus: instant and range queries, series and label look-ups;
//   - Alertmanager: alerts posted, listed and silenced through /api/v2, and its notifications received
//     here (-listen, the webhook receiver of its config);
//   - Karpenter: the demand Deployment scaled and the NodePool annotated through the apiserver with this
//     pod's ServiceAccount token.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

type counters struct {
	ok, failed atomic.Int64
}

var (
	stats = map[string]*counters{}
	names = []string{"etcd", "dns", "prometheus", "alertmanager", "kube", "webhook"}
)

func count(target string, err error) {
	c := stats[target]
	if err != nil {
		if c.failed.Add(1)%50 == 1 {
			log.Printf("%s: %v", target, err)
		}
		return
	}
	c.ok.Add(1)
}

// every runs f every period until ctx ends.
func every(ctx context.Context, period time.Duration, f func(i int)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(i)
		}
	}
}

var httpc = &http.Client{Timeout: 5 * time.Second}

// call sends one request and drains the answer; a status >= 300 is an error.
func call(ctx context.Context, c *http.Client, method, u, ctype string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s", method, u, resp.Status)
	}
	return nil
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func etcdLoad(ctx context.Context, base string, rate int) {
	post := func(path string, v any) error {
		body, _ := json.Marshal(v)
		return call(ctx, httpc, http.MethodPost, base+path, "application/json", body, nil)
	}
	every(ctx, time.Second/time.Duration(rate), func(i int) {
		key := fmt.Sprintf("/upstream/load/%04d", i%500)
		switch i % 4 {
		case 0, 1:
			count("etcd", post("/v3/kv/put", map[string]string{"key": b64(key), "value": b64(strconv.Itoa(i) + time.Now().String())}))
		case 2:
			count("etcd", post("/v3/kv/range", map[string]string{"key": b64(key)}))
		default:
			if i%40 == 3 { // a prefix range over every key now and then
				count("etcd", post("/v3/kv/range", map[string]any{"key": b64("/upstream/load/"), "range_end": b64("/upstream/load0"), "keys_only": true}))
			} else {
				count("etcd", post("/v3/kv/range", map[string]string{"key": b64(key)}))
			}
		}
	})
}

func dnsLoad(ctx context.Context, addr string, rate int) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	// Rooted names: the pod's resolv.conf search list (ndots 5) must not turn them into other queries.
	hosts := []string{"www.upstream.test.", "api.upstream.test.", "etcd.upstream.test.", "missing.upstream.test.", "prometheus.local."}
	every(ctx, time.Second/time.Duration(rate), func(i int) {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var err error
		switch i % 7 {
		case 5:
			_, _, err = r.LookupSRV(qctx, "http", "tcp", "upstream.test.")
		case 6:
			_, err = r.LookupTXT(qctx, "txt.upstream.test.")
		default:
			h := hosts[i%len(hosts)]
			_, err = r.LookupHost(qctx, h)
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) && dnsErr.IsNotFound && h == "missing.upstream.test." {
				err = nil // the NXDOMAIN this name is for
			}
		}
		count("dns", err)
	})
}

func prometheusLoad(ctx context.Context, base string) {
	queries := []string{"up", "sum by (job) (rate(process_cpu_seconds_total[1m]))", "go_goroutines",
		"histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[1m])))",
		`count({__name__=~"etcd_.*"})`, "coredns_dns_requests_total", "alertmanager_alerts"}
	every(ctx, 500*time.Millisecond, func(i int) {
		q := queries[i%len(queries)]
		now := time.Now()
		var u string
		switch i % 4 {
		case 0, 1:
			u = base + "/api/v1/query?query=" + url.QueryEscape(q)
		case 2:
			u = fmt.Sprintf("%s/api/v1/query_range?query=%s&start=%d&end=%d&step=15", base, url.QueryEscape(q), now.Add(-10*time.Minute).Unix(), now.Unix())
		default:
			if i%8 == 3 {
				u = base + "/api/v1/series?match[]=up"
			} else {
				u = base + "/api/v1/label/job/values"
			}
		}
		count("prometheus", call(ctx, httpc, http.MethodGet, u, "", nil, nil))
	})
}

func alertmanagerLoad(ctx context.Context, base string) {
	every(ctx, 5*time.Second, func(i int) {
		var alerts []map[string]any
		for n := range 10 {
			alerts = append(alerts, map[string]any{
				"labels":      map[string]string{"alertname": "UpstreamLoad", "instance": fmt.Sprintf("load-%d", n), "severity": "info"},
				"annotations": map[string]string{"summary": "synthetic alert from the e2e load generator"},
				"endsAt":      time.Now().Add(time.Minute).UTC().Format(time.RFC3339),
			})
		}
		body, _ := json.Marshal(alerts)
		count("alertmanager", call(ctx, httpc, http.MethodPost, base+"/api/v2/alerts", "application/json", body, nil))
		count("alertmanager", call(ctx, httpc, http.MethodGet, base+"/api/v2/alerts?active=true", "", nil, nil))
		if i%6 == 0 { // a short silence on one instance, which expires by itself
			s, _ := json.Marshal(map[string]any{
				"matchers":  []map[string]any{{"name": "instance", "value": fmt.Sprintf("load-%d", i%10), "isRegex": false}},
				"startsAt":  time.Now().UTC().Format(time.RFC3339),
				"endsAt":    time.Now().Add(20 * time.Second).UTC().Format(time.RFC3339),
				"createdBy": "loadgen", "comment": "e2e load",
			})
			count("alertmanager", call(ctx, httpc, http.MethodPost, base+"/api/v2/silences", "application/json", s, nil))
		}
	})
}

// kubeClient talks to the apiserver with this pod's ServiceAccount, as client-go's in-cluster config does.
type kubeClient struct {
	base  string
	token string
	c     *http.Client
}

func newKubeClient() (*kubeClient, error) {
	const sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	token, err := os.ReadFile(sa + "token")
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(sa + "ca.crt")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("no certificate in " + sa + "ca.crt")
	}
	return &kubeClient{
		base:  "https://" + net.JoinHostPort(host, port),
		token: string(bytes.TrimSpace(token)),
		c:     &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}, nil
}

func (k *kubeClient) mergePatch(ctx context.Context, path string, patch any) error {
	body, _ := json.Marshal(patch)
	return call(ctx, k.c, http.MethodPatch, k.base+path, "application/merge-patch+json", body,
		http.Header{"Authorization": {"Bearer " + k.token}})
}

func karpenterLoad(ctx context.Context, ns, demand, nodepool string) {
	k, err := newKubeClient()
	if err != nil {
		log.Printf("kube: no in-cluster credentials, Karpenter load off: %v", err)
		return
	}
	replicas := []int{2, 4, 1, 5, 0, 3}
	every(ctx, 20*time.Second, func(i int) {
		count("kube", k.mergePatch(ctx, "/apis/karpenter.sh/v1/nodepools/"+nodepool,
			map[string]any{"metadata": map[string]any{"annotations": map[string]string{"upstream.gohealth.dev/round": strconv.Itoa(i)}}}))
		if i%3 == 0 {
			count("kube", k.mergePatch(ctx, "/apis/apps/v1/namespaces/"+ns+"/deployments/"+demand+"/scale",
				map[string]any{"spec": map[string]any{"replicas": replicas[(i/3)%len(replicas)]}}))
		}
	})
}

func main() {
	etcd := flag.String("etcd", "", "etcd client URL (http://host:port)")
	dns := flag.String("dns", "", "CoreDNS address (host:port)")
	prom := flag.String("prometheus", "", "Prometheus URL")
	am := flag.String("alertmanager", "", "Alertmanager URL")
	listen := flag.String("listen", "", "address of the Alertmanager webhook receiver")
	ns := flag.String("namespace", os.Getenv("POD_NAMESPACE"), "namespace of the demand Deployment")
	demand := flag.String("demand", "", "Deployment whose scale drives Karpenter (empty: off)")
	nodepool := flag.String("nodepool", "", "Karpenter NodePool to annotate")
	etcdRate := flag.Int("etcd-rate", 40, "etcd requests per second")
	dnsRate := flag.Int("dns-rate", 30, "DNS lookups per second")
	duration := flag.Duration("for", 3*time.Hour, "stop the load after this long")
	flag.Parse()
	for _, n := range names {
		stats[n] = &counters{}
	}

	sigs, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(sigs, *duration)
	defer cancel()

	if *listen != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("POST /alerts", func(w http.ResponseWriter, r *http.Request) {
			_, err := io.Copy(io.Discard, r.Body)
			count("webhook", err)
		})
		srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Fatalf("webhook receiver: %v", err)
			}
		}()
		defer srv.Close()
	}
	if *etcd != "" && *etcdRate > 0 {
		go etcdLoad(ctx, *etcd, *etcdRate)
	}
	if *dns != "" && *dnsRate > 0 {
		go dnsLoad(ctx, *dns, *dnsRate)
	}
	if *prom != "" {
		go prometheusLoad(ctx, *prom)
	}
	if *am != "" {
		go alertmanagerLoad(ctx, *am)
	}
	if *demand != "" && *nodepool != "" {
		go karpenterLoad(ctx, *ns, *demand, *nodepool)
	}
	report := func() {
		line := ""
		for _, n := range names {
			line += fmt.Sprintf(" %s=%d/%d", n, stats[n].ok.Load(), stats[n].failed.Load())
		}
		log.Printf("ok/failed:%s", line)
	}
	every(ctx, 30*time.Second, func(int) { report() })
	report()
	log.Printf("load finished; idle until terminated")
	<-sigs.Done()
}
