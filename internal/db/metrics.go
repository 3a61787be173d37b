package db

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolCollector exports the statistics of a connection pool to Prometheus
// (flowtiles_db_pool_*), read at scrape time.
func PoolCollector(pool *pgxpool.Pool) prometheus.Collector { return poolCollector{pool.Stat} }

type poolCollector struct{ stat func() *pgxpool.Stat }

var (
	poolDescs = struct {
		total, idle, acquired, constructing, max, acquires, emptyAcquires, canceled, acquireSeconds *prometheus.Desc
	}{
		total:          prometheus.NewDesc("flowtiles_db_pool_connections", "Connections in the database pool.", nil, nil),
		idle:           prometheus.NewDesc("flowtiles_db_pool_idle_connections", "Idle connections in the pool.", nil, nil),
		acquired:       prometheus.NewDesc("flowtiles_db_pool_acquired_connections", "Connections in use.", nil, nil),
		constructing:   prometheus.NewDesc("flowtiles_db_pool_constructing_connections", "Connections being opened.", nil, nil),
		max:            prometheus.NewDesc("flowtiles_db_pool_max_connections", "The pool's connection limit.", nil, nil),
		acquires:       prometheus.NewDesc("flowtiles_db_pool_acquires_total", "Connections acquired from the pool.", nil, nil),
		emptyAcquires:  prometheus.NewDesc("flowtiles_db_pool_empty_acquires_total", "Acquires that had to wait for a connection.", nil, nil),
		canceled:       prometheus.NewDesc("flowtiles_db_pool_canceled_acquires_total", "Acquires cancelled by their context.", nil, nil),
		acquireSeconds: prometheus.NewDesc("flowtiles_db_pool_acquire_seconds_total", "Time spent acquiring connections.", nil, nil),
	}
)

func (p poolCollector) Describe(ch chan<- *prometheus.Desc) {
	d := poolDescs
	for _, x := range []*prometheus.Desc{d.total, d.idle, d.acquired, d.constructing, d.max, d.acquires, d.emptyAcquires, d.canceled, d.acquireSeconds} {
		ch <- x
	}
}

func (p poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := p.stat()
	if st == nil {
		return
	}
	d := poolDescs
	g := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v)
	}
	c := func(desc *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v)
	}
	g(d.total, float64(st.TotalConns()))
	g(d.idle, float64(st.IdleConns()))
	g(d.acquired, float64(st.AcquiredConns()))
	g(d.constructing, float64(st.ConstructingConns()))
	g(d.max, float64(st.MaxConns()))
	c(d.acquires, float64(st.AcquireCount()))
	c(d.emptyAcquires, float64(st.EmptyAcquireCount()))
	c(d.canceled, float64(st.CanceledAcquireCount()))
	c(d.acquireSeconds, st.AcquireDuration().Seconds())
}
