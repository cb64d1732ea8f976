"""graphc.nn: layers as Modules that own their parameters and build subgraphs under their own name scope."""
from . import init
from .attention import MultiHeadAttention, TransformerEncoderLayer, scaled_dot_product_attention
from .layers import (ACTIVATIONS, ELU, GELU, Activation, AvgPool1d, AvgPool2d, Conv1d, Conv2d, Dense, Dropout,
                     Embedding, Flatten, Identity, LeakyReLU, Linear, LogSoftmax, MaxPool1d, MaxPool2d, ReLU, Sigmoid,
                     Softmax, Softplus, Step, Tanh)
from .module import Module, Residual, Sequential
from .norm import BatchNorm1d, BatchNorm2d, LayerNorm
from .recurrent import GRU, LSTM, RNN
