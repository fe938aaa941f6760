/* crash.c: fatal signals (a native function's segfault) in a worker or under pikku test: what ran is reported, then the process dies. */
#define _GNU_SOURCE
#include "crash.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "call_guard.h"
#include "log.h"
#include "rescue.h"

static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
static char altstack[64 * 1024];
static int in_test;
static char test_name[512];
static int test_passed, test_failed;

void pk__crash_test_progress(const char *name, int passed, int failed) {
  if (name) snprintf(test_name, sizeof test_name, "%s", name);
  else test_name[0] = 0;
  test_passed = passed;
  test_failed = failed;
}

static void put(const char *s) {
  size_t n = strlen(s);
  while (n) {
    ssize_t w = write(1, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

static void put_uint(unsigned v) {
  char d[16];
  int n = 0;
  do { d[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  char out[16];
  for (int i = 0; i < n; i++) out[i] = d[n - 1 - i];
  out[n] = 0;
  put(out);
}

/* pikku test: the test that crashed fails, and the run ends with its summary. */
static void test_report(int sig) {
  const char *what = sig == SIGSEGV ? "SIGSEGV (invalid memory access)" : sig == SIGBUS ? "SIGBUS"
                     : sig == SIGFPE ? "SIGFPE" : sig == SIGILL ? "SIGILL" : sig == SIGABRT ? "SIGABRT" : "a signal";
  put("CRASH ");
  put(test_name[0] ? test_name : "(while loading the tests, outside any test)");
  put("\n\nThe test process was killed by ");
  put(what);
  put(test_name[0] ? " while running the test above" : "");
  put(" (a bug in native code: a C module, an FFI call or a native function).\n");
  put_uint((unsigned)test_passed);
  put(" passed, ");
  put_uint((unsigned)test_failed + 1);
  put(" failed (1 crashed; the tests after it did not run)\n");
}

static void on_fatal(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  if (in_test) {
    pk__log_flush();
    test_report(sig);
    _exit(1);
  }
  pk__rescue_crash(sig, si ? si->si_addr : NULL);
  signal(sig, SIG_DFL);   /* SA_RESETHAND did it already; this keeps it so for raise */
  raise(sig);
}

void pk__crash_install(int test) {
  in_test = test;
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fatal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) sigaction(fatal[i], &sa, NULL);
}
