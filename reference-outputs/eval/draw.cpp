// draw.cpp - the task order llama-perplexity --hellaswag uses (c392e50): std::mt19937 seeded 1,
// each draw std::uniform_int_distribution<size_t>(0, remaining-1), the drawn task then removed.
// Prints one line per draw: draw number, the drawn position among the remaining tasks, and the
// task's index in the file.  With a third argument "swap": the draw of --multiple-choice-tasks and
// --winogrande-tasks instead (j = int(scale*rng()*aux.size()), the last task moved into the hole).
// A reference for engine/eval.c's draws, not part of the build.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>
int main(int argc, char **argv) {
    size_t total = argc > 1 ? strtoul(argv[1], 0, 10) : 1000, n = argc > 2 ? strtoul(argv[2], 0, 10) : total;
    std::vector<size_t> left(total);
    for (size_t i = 0; i < total; i++) left[i] = i;
    std::mt19937 rng(1);
    if (argc > 3 && std::string(argv[3]) == "swap") {
        float scale = 1.f/(1.f + (float)std::mt19937::max());
        for (size_t i = 0; i < n && !left.empty(); i++) {
            int j = (int)(scale * rng() * left.size());
            printf("%zu\t%d\t%zu\n", i + 1, j, left[j]);
            left[j] = left.back();
            left.pop_back();
        }
        return 0;
    }
    for (size_t i = 0; i < n && !left.empty(); i++) {
        std::uniform_int_distribution<size_t> dist(0, left.size() - 1);
        size_t k = dist(rng);
        printf("%zu\t%zu\t%zu\n", i + 1, k, left[k]);
        left.erase(left.begin() + k);
    }
}
