#include "agent/commands.hpp"

int main(int argc, char** argv) {
    return graft::agent::run_command_line(std::vector<std::string>(argv + 1, argv + argc));
}
