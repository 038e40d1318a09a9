# Plots of `signopt report`; rerun with: cd docs/results/final/plots && gnuplot plots.gp
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-test-accuracy.png'

# fashion-mnist: test accuracy per epoch (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist: test accuracy per epoch (mean over seeds, band: min..max)'
set xlabel 'epoch'
set ylabel 'test accuracy (%)'
set grid
set key bottom right box opaque
set xtics 1
plot 'fashion-mnist-test-accuracy.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-test-accuracy.dat' index 0 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 1 title 'sgd', \
     'fashion-mnist-test-accuracy.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-test-accuracy.dat' index 1 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 2 title 'adam', \
     'fashion-mnist-test-accuracy.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-test-accuracy.dat' index 2 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 3 title 'signum', \
     'fashion-mnist-test-accuracy.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 4 notitle, \
     'fashion-mnist-test-accuracy.dat' index 3 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 4 title 'dithered-signum', \
     'fashion-mnist-test-accuracy.dat' index 4 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 5 notitle, \
     'fashion-mnist-test-accuracy.dat' index 4 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 5 title 'hybrid', \
     'fashion-mnist-test-accuracy.dat' index 5 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 6 notitle, \
     'fashion-mnist-test-accuracy.dat' index 5 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 6 title 'ef-signsgd', \
     'fashion-mnist-test-accuracy.dat' index 6 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 7 notitle, \
     'fashion-mnist-test-accuracy.dat' index 6 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 7 title 'lion'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-test-accuracy.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-train-loss.png'

# fashion-mnist: training loss per epoch (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist: training loss per epoch (mean over seeds, band: min..max)'
set xlabel 'epoch'
set ylabel 'training loss (epoch mean)'
set grid
set key top right box opaque
set xtics 1
plot 'fashion-mnist-train-loss.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-train-loss.dat' index 0 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 1 title 'sgd', \
     'fashion-mnist-train-loss.dat' index 1 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 2 notitle, \
     'fashion-mnist-train-loss.dat' index 1 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 2 title 'adam', \
     'fashion-mnist-train-loss.dat' index 2 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 3 notitle, \
     'fashion-mnist-train-loss.dat' index 2 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 3 title 'signum', \
     'fashion-mnist-train-loss.dat' index 3 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 4 notitle, \
     'fashion-mnist-train-loss.dat' index 3 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 4 title 'dithered-signum', \
     'fashion-mnist-train-loss.dat' index 4 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 5 notitle, \
     'fashion-mnist-train-loss.dat' index 4 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 5 title 'hybrid', \
     'fashion-mnist-train-loss.dat' index 5 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 6 notitle, \
     'fashion-mnist-train-loss.dat' index 5 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 6 title 'ef-signsgd', \
     'fashion-mnist-train-loss.dat' index 6 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 7 notitle, \
     'fashion-mnist-train-loss.dat' index 6 using 1:2 with linespoints pt 7 ps 0.6 lw 2 lc 7 title 'lion'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-train-loss.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-hybrid-calibrated-lr.png'

# fashion-mnist: hybrid's calibrated SGD rate and phase per step (mean over seeds, band: min..max)
reset
set termoption noenhanced
set title 'fashion-mnist: hybrid''s calibrated SGD rate and phase per step (mean over seeds, band: min..max)'
set xlabel 'step'
set ylabel 'calibrated lr'
set grid
set key top right box opaque
set y2range [-0.05:1.05]
set y2tics ('sign' 0, 'sgd' 1)
set ytics nomirror
set y2label 'phase'
plot 'fashion-mnist-hybrid-calibrated-lr.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 0 using 1:2 with lines lw 2 lc 1 title 'hybrid', \
     'fashion-mnist-hybrid-calibrated-lr.dat' index 0 using 1:5 axes x1y2 with steps dt 2 lw 1.5 lc 1 title 'hybrid: phase'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-hybrid-calibrated-lr.svg'
replot
unset output
set terminal pngcairo size 1000,620 font ',10'
set output 'fashion-mnist-dither-alpha.png'

# fashion-mnist: dither alpha_t per step (noise std = alpha_t x per-tensor scale; mean over seeds)
reset
set termoption noenhanced
set title 'fashion-mnist: dither alpha_t per step (noise std = alpha_t x per-tensor scale; mean over seeds)'
set xlabel 'step'
set ylabel 'alpha_t'
set grid
set key top right box opaque
plot 'fashion-mnist-dither-alpha.dat' index 0 using 1:3:4 with filledcurves fs transparent solid 0.18 noborder lc 1 notitle, \
     'fashion-mnist-dither-alpha.dat' index 0 using 1:2 with lines lw 2 lc 1 title 'dithered-signum'
set terminal svg size 1000,620 dynamic font ',10'
set output 'fashion-mnist-dither-alpha.svg'
replot
unset output
