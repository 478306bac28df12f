// Worker pool: a producer fiber hands jobs to N worker fibers through a
// bounded channel; the workers send results (or errors) back on another
// channel to one collector fiber. The idioms a pool needs:
//   - backpressure: the job queue is bounded, so the producer parks while
//     the workers are behind instead of piling up jobs in memory;
//   - closing the job channel to stop the workers: each worker loops until
//     the queue is closed and drained, so no "poison pill" jobs are needed;
//   - closing the result channel once the last worker is done, so the
//     collector knows nothing more is coming;
//   - errors travel as values: a failed job is a result with a message, the
//     pool carries on and the collector gathers them;
//   - one deadline for the whole batch (weft::deadline_scope, inherited by
//     every fiber spawned inside it) and a stop on the first error
//     (std::stop_source + weft::stop_scope);
//   - weft::task_group to wait for the crew: no fiber outlives the batch,
//     and an unexpected exception in one cancels the others.
// Usage: worker_pool [--jobs N] [--workers N] [--threads T] [--queue Q]
//                    [--job-ms MS] [--fail-every K] [--deadline-ms MS] [--fail-fast]
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <weft/weft.hpp>

#include "example_args.hpp"

namespace {

const char usage[] =
    "usage: worker_pool [--jobs N] [--workers N] [--threads T] [--queue Q]\n"
    "                   [--job-ms MS] [--fail-every K] [--deadline-ms MS] [--fail-fast]\n"
    "  --jobs N         jobs in the batch (default 1000)\n"
    "  --workers N      worker fibers taking jobs from the queue (default 8)\n"
    "  --threads T      weft::runtime workers (OS threads) to run them on (default 2)\n"
    "  --queue Q        capacity of the job and result channels (default 16)\n"
    "  --job-ms MS      each job waits MS ms, as if on a service, then computes (default 1)\n"
    "  --fail-every K   every K-th job fails with an error (default 100; 0: none fail)\n"
    "  --deadline-ms MS give the whole batch MS ms (default 0: no deadline)\n"
    "  --fail-fast      stop the batch at the first failed job\n"
    "  --help           this text\n";

struct options {
    long jobs = 1000, workers = 8, threads = 2, queue = 16, job_ms = 1, fail_every = 100, deadline_ms = 0;
    bool fail_fast = false;
};

struct job {
    long id;
    long first;  // the job counts the primes in [first, first + job_span)
};
constexpr long job_span = 2000;

// What comes back: a value or an error, and which thread did the work.
// Moving a std::string is noexcept, as a channel's element type must be.
struct result {
    long id = 0;
    long primes = 0;
    std::string error;  // empty: the job succeeded
    int thread = 0;
};

// Errors that end the batch rather than one job: the deadline passed
// (timed_out) or a stop was requested (operation_canceled).
bool batch_ended(const std::system_error& e) {
    return e.code() == std::errc::timed_out || e.code() == std::errc::operation_canceled;
}

long count_primes(long first, long last) {
    long n = 0;
    for (long v = first < 2 ? 2 : first; v < last; ++v) {
        bool prime = true;
        for (long d = 2; d * d <= v; ++d)
            if (v % d == 0) {
                prime = false;
                break;
            }
        n += prime;
    }
    return n;
}

// One job: a wait that parks only this fiber (the worker thread runs the
// others meanwhile), then some computing. Throws to report a failed job.
long run_job(const job& j, const options& o) {
    if (o.job_ms > 0) weft::this_fiber::sleep_for(std::chrono::milliseconds(o.job_ms));
    if (o.fail_every > 0 && (j.id + 1) % o.fail_every == 0)
        throw std::runtime_error("job " + std::to_string(j.id) + ": input " + std::to_string(j.first) + " rejected");
    return count_primes(j.first, j.first + job_span);
}

struct summary {
    long submitted = 0;       // written by the producer
    long producer_waits = 0;  // times the producer found the queue full
    long ok = 0, failed = 0;  // the rest by the collector
    long primes = 0;          // found by the jobs that succeeded
    std::vector<std::string> first_errors;
    std::vector<long> per_thread;
    bool timed_out = false;
};

// The producer and the workers, in a task_group under the batch deadline.
// Returns once every one of them has ended.
void run_crew(const options& o, weft::channel<job>& jobs, weft::channel<result>& results, std::stop_token stop,
              summary& sum) {
    // Every fiber spawned inside this scope inherits its deadline, so when
    // it passes each of them fails its current wait with timed_out.
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.deadline_ms);
    std::optional<weft::deadline_scope> limit;
    if (o.deadline_ms > 0) limit.emplace(end);
    weft::task_group crew;  // waits for its children even if we leave by an exception

    crew.spawn([&] {
        weft::stop_scope stop_on{stop};  // a stop fails the current and later waits with operation_canceled
        try {
            for (long id = 0; id < o.jobs; ++id) {
                job j{id, id * job_span};
                // try_send never parks; on failure j is left as it was, so
                // the blocking send can still hand it over.
                if (!jobs.try_send(std::move(j))) {
                    ++sum.producer_waits;
                    jobs.send(std::move(j));  // parks until a worker takes a job: backpressure
                }
                ++sum.submitted;
            }
        } catch (const std::system_error& e) {
            if (!batch_ended(e)) {
                jobs.close();
                throw;
            }
        }
        jobs.close();  // no more jobs: each worker's loop ends once the queue is drained
    });

    // The workers are independent and live for the whole batch: any_worker
    // deals them to the threads in turn now. (By default they would start
    // on this thread and spread only once idle threads took unstarted ones.)
    for (long w = 0; w < o.workers; ++w)
        crew.spawn([&] {
            weft::stop_scope stop_on{stop};
            try {
                for (job& j : jobs) {  // each step is a recv(): parks while the queue is empty
                    result r{.id = j.id, .thread = weft::worker_index()};
                    try {
                        r.primes = run_job(j, o);
                    } catch (const std::system_error& e) {
                        if (batch_ended(e)) throw;  // not the job's fault: the batch is over
                        r.error = e.what();
                    } catch (const std::exception& e) {
                        r.error = e.what();
                    }
                    results.send(std::move(r));
                }
            } catch (const std::system_error& e) {
                // The deadline or a stop ended the batch: a normal end for a
                // worker. Anything else escapes, and the task_group cancels
                // the rest of the crew and rethrows it from wait().
                if (!batch_ended(e)) throw;
            }
        }, {.worker = weft::any_worker});

    try {
        crew.wait();
    } catch (const std::system_error& e) {
        // Our own wait is under the deadline too: it gives up with timed_out
        // once the crew has ended (canceled by the task_group if need be).
        if (e.code() != std::errc::timed_out) throw;
    }
    // The crew may also have timed out and ended just before our wait did.
    sum.timed_out = limit && std::chrono::steady_clock::now() >= end;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    example_args::parser args("worker_pool", usage, argc, argv);
    while (const char* a = args.next()) {
        const std::string_view arg = a;
        if (arg == "--jobs") o.jobs = args.number(a, 0, 100'000'000);
        else if (arg == "--workers") o.workers = args.number(a, 1, 100'000);
        else if (arg == "--threads") o.threads = args.number(a, 1, 1024);
        else if (arg == "--queue") o.queue = args.number(a, 0, 1'000'000);
        else if (arg == "--job-ms") o.job_ms = args.number(a, 0, 60'000);
        else if (arg == "--fail-every") o.fail_every = args.number(a, 0, 100'000'000);
        else if (arg == "--deadline-ms") o.deadline_ms = args.number(a, 0, 3'600'000);
        else if (arg == "--fail-fast") o.fail_fast = true;
        else args.unknown(a);
    }

    summary sum;
    sum.per_thread.assign(static_cast<std::size_t>(o.threads), 0);
    const auto t0 = std::chrono::steady_clock::now();
    try {
        weft::runtime rt{{.workers = static_cast<unsigned>(o.threads)}};
        rt.run([&] {
            weft::channel<job> jobs(static_cast<std::size_t>(o.queue));
            weft::channel<result> results(static_cast<std::size_t>(o.queue));
            std::stop_source stop;  // requested by the collector with --fail-fast

            // Spawned before the batch's deadline_scope, so it has none: it
            // drains every result the crew sends, however the batch ends.
            auto collector = weft::spawn([&] {
                for (result& r : results) {
                    ++sum.per_thread[static_cast<std::size_t>(r.thread)];
                    if (r.error.empty()) {
                        ++sum.ok;
                        sum.primes += r.primes;
                        continue;
                    }
                    ++sum.failed;
                    if (sum.first_errors.size() < 3) sum.first_errors.push_back(r.error);
                    if (o.fail_fast) stop.request_stop();  // the crew's waits fail from now on
                }
            });
            std::exception_ptr failure;
            try {
                run_crew(o, jobs, results, stop.get_token(), sum);
            } catch (...) {
                failure = std::current_exception();
            }
            results.close();  // the crew is done, on every path: the collector's loop ends
            collector.join();
            if (failure) std::rethrow_exception(failure);
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "worker_pool: %s\n", e.what());
        return 1;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    const long done = sum.ok + sum.failed;
    std::printf("worker_pool: %ld jobs, %ld worker fibers on %ld threads, queue of %ld\n", o.jobs, o.workers,
                o.threads, o.queue);
    std::printf("  submitted %ld (the producer found the queue full %ld times), done %ld: %ld ok, %ld failed\n",
                sum.submitted, sum.producer_waits, done, sum.ok, sum.failed);
    for (const std::string& e : sum.first_errors) std::printf("  error: %s\n", e.c_str());
    if (sum.timed_out) std::printf("  the batch deadline (%ld ms) passed: %ld jobs not done\n", o.deadline_ms, o.jobs - done);
    else if (o.fail_fast && sum.failed > 0) std::printf("  stopped at the first error: %ld jobs not done\n", o.jobs - done);
    std::printf("  jobs per thread:");
    for (long n : sum.per_thread) std::printf(" %ld", n);
    std::printf("\n  %ld primes found, %.3f s\n", sum.primes, s);

    // Every submitted job gives exactly one result unless the batch was cut short.
    const bool cut = sum.timed_out || (o.fail_fast && sum.failed > 0);
    const bool consistent = cut ? done <= sum.submitted : (done == o.jobs && sum.submitted == o.jobs);
    std::printf(consistent ? "worker_pool: ok\n" : "worker_pool: FAILED (results do not add up)\n");
    return consistent ? 0 : 1;
}
