//! aigc: a readable deep-learning framework for the CPU.
