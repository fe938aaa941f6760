/* vec.c: plain exported C functions of the native app, called through LuaJIT FFI (pikku.native_lib "vec"). */
#include <stddef.h>

/* The sum of xs[0..n), and the largest value in *max. */
double vec_sum(const double *xs, int n, double *max) {
  double s = 0, m = n > 0 ? xs[0] : 0;
  for (int i = 0; i < n; i++) {
    s += xs[i];
    if (xs[i] > m) m = xs[i];
  }
  if (max) *max = m;
  return s;
}
