/* crash.h: fatal signals (a native function's segfault) in a worker or under pikku test: what ran is reported, then the process dies. */
#ifndef PK_CRASH_H
#define PK_CRASH_H

/* Installs the handlers of SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT (on an alternate stack, so a
 * stack overflow is reported too). In a worker (test 0) the running call is logged and every
 * client answered (rescue.c); under pikku test (test 1) the test that was running and the run's
 * summary are printed. Then the signal's default action kills the process (the master logs
 * "killed by signal N" and starts a new worker); under pikku test the exit code is 1. */
void pk__crash_install(int test);
/* pikku test's progress, for the report of a crash: the test running and the counts so far. */
void pk__crash_test_progress(const char *name, int passed, int failed);
#endif
