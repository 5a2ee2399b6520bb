/* Embedding a trained wasserflow model from C: load, sample, score, map.
 *
 *   cargo rustc --release --lib --features capi --crate-type cdylib
 *   cc examples/c/embed.c -Iinclude -Ltarget/release -lwasserflow -o embed
 *   LD_LIBRARY_PATH=target/release ./embed runs/demo
 */
#include <stdio.h>
#include <stdlib.h>

#include "wasserflow.h"

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "runs/demo";
    WfModel *model = NULL;
    if (wf_model_load("no/such/run", &model) != WF_OK) {
        printf("expected failure: %s\n", wf_last_error());
    }
    int rc = wf_model_load(dir, &model);
    if (rc != WF_OK) {
        fprintf(stderr, "cannot load %s (code %d): %s\n", dir, rc, wf_last_error());
        return 1;
    }
    size_t dim = 0;
    wf_model_dim(model, &dim);
    enum { N = 4 };
    float *x = malloc(sizeof(float) * N * dim);
    float *z = malloc(sizeof(float) * N * dim);
    double log_p[N];
    if (wf_model_sample(model, N, 7, x) != WF_OK || wf_model_log_prob(model, x, N, log_p) != WF_OK ||
        wf_model_transport(model, x, N, z) != WF_OK) {
        fprintf(stderr, "error: %s\n", wf_last_error());
        return 1;
    }
    printf("dim %zu\n", dim);
    for (int i = 0; i < N; i++) {
        printf("x = (%.4f, %.4f)  log p = %.4f  z = (%.4f, %.4f)\n", x[i * dim], x[i * dim + 1], log_p[i],
               z[i * dim], z[i * dim + 1]);
    }
    /* Wrong sizes are errors, not crashes: a null output pointer. */
    rc = wf_model_log_prob(model, x, N, NULL);
    printf("null output: code %d: %s\n", rc, wf_last_error());
    free(x);
    free(z);
    wf_model_free(model);
    return 0;
}
