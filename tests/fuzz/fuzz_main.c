/* fuzz_main.c - the regression driver of the normal build: feeds every file of the corpus
 * directories given (seeds and the inputs of crashes once found) to the harness it is linked
 * with, the way libFuzzer replays a corpus.  An invariant that fails aborts: the test fails and
 * the last "running" line names the input.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    fuzz_buf input = {0};
    uint8_t block[4096];
    size_t n;
    while ((n = fread(block, 1, sizeof(block), f)) > 0)
        fuzz_buf_put(&input, block, n);
    fclose(f);
    fprintf(stderr, "running %s (%zu bytes)\n", path, input.len);
    LLVMFuzzerTestOneInput(input.data, input.len);
    fuzz_buf_free(&input);
    return 0;
}

static int name_order(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int only_files(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

int main(int argc, char **argv)
{
    int inputs = 0;
    for (int i = 1; i < argc; i++) {
        struct dirent **names;
        int count = scandir(argv[i], &names, only_files, name_order);
        if (count < 0) {
            perror(argv[i]);
            return 1;
        }
        for (int k = 0; k < count; k++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]->d_name);
            if (run_file(path) < 0)
                return 1;
            inputs++;
            free(names[k]);
        }
        free(names);
    }
    printf("%d inputs passed\n", inputs);
    return inputs > 0 ? 0 : 1;
}
