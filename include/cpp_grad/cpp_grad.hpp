// cpp_grad: a scalar reverse-mode autograd engine. Include this one header.
#pragma once

#include "value.hpp"   // the graph node, the Value handle, backward()
#include "ops.hpp"     // + - * / pow exp log tanh sigmoid relu sum mean
#include "activation.hpp"  // relu, tanh, linear: by name, on Values and on numbers
#include "fused.hpp"   // the fused dot node behind every neuron; the training path's nodes
#include "nn.hpp"      // Module, Neuron, Layer, MLP
#include "loss.hpp"    // cross_entropy, mse, hinge
#include "optim.hpp"   // SGD, Adam
#include "train.hpp"   // Trainer, predict, evaluate
