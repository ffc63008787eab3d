package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// copyThreads seals the plan's batches on opt.sealers goroutines (sealing
// is the CPU cost) and copies them on opt.writers connections, each batch
// in its own transaction. It prints progress every ten seconds and returns
// the rows written per table.
func copyThreads(ctx context.Context, pool *pgxpool.Pool, plan threadPlan, opt seedOptions, out io.Writer) ([tableCount]int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan int)
	sealed := make(chan *batch, opt.sealers)
	go func() {
		defer close(jobs)
		for k := range plan.batches() {
			select {
			case jobs <- k:
			case <-ctx.Done():
				return
			}
		}
	}()
	var sealing sync.WaitGroup
	for range opt.sealers {
		sealing.Go(func() {
			for k := range jobs {
				b, err := plan.build(k)
				if err != nil {
					cancel(fmt.Errorf("seal batch %d: %w", k, err))
					return
				}
				select {
				case sealed <- b:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	go func() { sealing.Wait(); close(sealed) }()

	var done atomic.Int64
	stop := progress(plan.batches(), &done, out)
	defer stop()
	counts := make([][tableCount]int64, opt.writers)
	var writing sync.WaitGroup
	for w := range opt.writers {
		writing.Go(func() {
			for b := range sealed {
				if ctx.Err() != nil {
					continue // drain, so sealers are never stuck
				}
				if err := copyBatch(ctx, pool, b, &counts[w]); err != nil {
					cancel(err)
				}
				done.Add(1)
			}
		})
	}
	writing.Wait()
	var total [tableCount]int64
	if err := context.Cause(ctx); err != nil {
		return total, err
	}
	for _, c := range counts {
		for t := range c {
			total[t] += c[t]
		}
	}
	return total, nil
}

// progress prints how many of n batches are done every ten seconds, until
// the returned function is called.
func progress(n int, done *atomic.Int64, out io.Writer) (stop func()) {
	start := time.Now()
	return every(10*time.Second, func() {
		fmt.Fprintf(out, "seed: %d/%d batches after %s\n", done.Load(), n, time.Since(start).Round(time.Second))
	})
}
