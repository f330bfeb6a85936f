/* qnas-edge DUT glue for STM32Cube projects: call qx_dut_init() once after MX_USARTx_UART_Init(),
 * then qx_dut_loop() from the while(1) loop of main(). See ../README.md. */
#ifndef QNAS_DUT_GLUE_STM32_H
#define QNAS_DUT_GLUE_STM32_H
#include "main.h"

void qx_dut_init(UART_HandleTypeDef *uart, const char *vendor);
void qx_dut_loop(void);
#endif
