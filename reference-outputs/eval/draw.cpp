// draw.cpp - the task order llama-perplexity --hellaswag uses (c392e50): std::mt19937 seeded 1,
// each draw std::uniform_int_distribution<size_t>(0, remaining-1), the drawn task then removed.
// Prints one line per draw: draw number, the drawn position among the remaining tasks, and the
// task's index in the file.  A reference for engine/eval.c's draw, not part of the build.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>
int main(int argc, char **argv) {
    size_t total = argc > 1 ? strtoul(argv[1], 0, 10) : 1000, n = argc > 2 ? strtoul(argv[2], 0, 10) : total;
    std::vector<size_t> left(total);
    for (size_t i = 0; i < total; i++) left[i] = i;
    std::mt19937 rng(1);
    for (size_t i = 0; i < n && !left.empty(); i++) {
        std::uniform_int_distribution<size_t> dist(0, left.size() - 1);
        size_t k = dist(rng);
        printf("%zu\t%zu\t%zu\n", i + 1, k, left[k]);
        left.erase(left.begin() + k);
    }
}
