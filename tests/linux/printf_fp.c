#include <stdio.h>
#include <stdlib.h>
#include <math.h>
int main(void) {
    double x = strtod("3.14159265358979", NULL);
    printf("%f %.10g %e\n", x, sqrt(x), exp(x));
    printf("%.3f %.3f %.3f\n", sin(1.0), cos(1.0), atan2(1.0, 2.0));
    printf("%g %g\n", pow(2.0, 0.5), log(10.0));
    float f = 1.0f / 3.0f;
    printf("%.9f %a\n", f, 0.1);
    printf("%lld\n", (long long)llround(1e10 / 7));
    return 0;
}
