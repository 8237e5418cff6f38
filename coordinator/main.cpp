#include "coordinator/commands.hpp"

int main(int argc, char** argv) {
    return graft::coordinator::run_command_line(std::vector<std::string>(argv + 1, argv + argc));
}
