// Keeps the compiler from deleting an allocation whose result is otherwise unused, without
// storing the pointer anywhere.
#pragma once
#define USE(p) __asm__ volatile("" : : "r"(p) : "memory")
