#!/usr/bin/env node
// Installed entry point: the command line for people.
import '../src/cli/bester.ts';
