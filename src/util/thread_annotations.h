// Clang thread-safety annotations (-Wthread-safety), checked by the compiler rather than
// written as comments. Other compilers see nothing. Used with the Mutex of util/mutex.h:
//
//   Mutex mu_;
//   int64_t pending_ GUARDED_BY(mu_) = 0;
//   void Drain() REQUIRES(mu_);        // caller holds mu_
//   void Stop() EXCLUDES(mu_);         // caller must not hold mu_
//
// CI builds the tests once with clang -Wthread-safety -Werror (tools/thread_safety.sh).
#ifndef INPUTPIPE_UTIL_THREAD_ANNOTATIONS_H_
#define INPUTPIPE_UTIL_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define INPUTPIPE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define INPUTPIPE_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) INPUTPIPE_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY INPUTPIPE_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) INPUTPIPE_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) INPUTPIPE_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) INPUTPIPE_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) INPUTPIPE_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) INPUTPIPE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) INPUTPIPE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) INPUTPIPE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) INPUTPIPE_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) INPUTPIPE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) INPUTPIPE_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) INPUTPIPE_THREAD_ANNOTATION(lock_returned(x))
// For the rare function the analysis cannot follow; say why beside it.
#define NO_THREAD_SAFETY_ANALYSIS INPUTPIPE_THREAD_ANNOTATION(no_thread_safety_analysis)

#endif  // INPUTPIPE_UTIL_THREAD_ANNOTATIONS_H_
