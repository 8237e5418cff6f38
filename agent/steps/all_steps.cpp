#include "agent/steps/step.hpp"

namespace graft::agent {

const step& hostname_step_instance();
const step& kernel_cmdline_step_instance();
const step& modules_step_instance();
const step& sysctl_step_instance();
const step& swap_step_instance();
const step& runtime_step_instance();
const step& dns_step_instance();
const step& node_ip_step_instance();
const step& preflight_step_instance();

const std::vector<const step*>& all_steps() {
    static const std::vector<const step*> steps{&hostname_step_instance(), &kernel_cmdline_step_instance(),
                                                &modules_step_instance(), &sysctl_step_instance(), &swap_step_instance(),
                                                &runtime_step_instance(), &dns_step_instance(), &node_ip_step_instance(),
                                                &preflight_step_instance()};
    return steps;
}

}  // namespace graft::agent
